"""What the TESSY loop needs of a generating model, whichever backend runs it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from transformers import PreTrainedTokenizerBase

from tessy_factory.config import ModelConfig


class GenerationFailed(RuntimeError):
    """A sample could not be generated; the message says why.

    `retryable` is False where another attempt cannot help (the prompt does not fit).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class ContextOverflow(GenerationFailed):
    """The text does not fit the model's context window; `detail` says by how much.

    Raised as the prompt's fault, which no attempt can help. The TESSY loop checks every
    prompt up front, so it turns one met mid-sample into a retryable failure."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"prompt too long: {detail}", retryable=False)
        self.detail = detail


@dataclass(frozen=True)
class Continuation:
    """New text as the model's own token pieces, and whether it ended its turn."""

    pieces: list[str]
    ended: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces)


# Told the pieces written so far, says whether the rest of the turn would be thrown away.
StopHint = Callable[[list[str]], bool]


class TextModel(Protocol):
    """A model that continues raw text: in-process (`local`) or on a server (`openai`)."""

    name: str
    config: ModelConfig

    def prompt_text(self, user_prompt: str) -> str:
        """The user turn in this model's own chat template, ready for the assistant turn."""
        ...

    def new_cache(self) -> object | None:
        """Per-sample state to pass to every `complete` of one sample."""
        ...

    def count_tokens(self, text: str) -> int:
        """The number of this model's tokens in `text`."""
        ...

    async def complete(
        self,
        prefix: str,
        max_new_tokens: int,
        cache: object | None,
        seed: int,
        stop: StopHint | None = None,
    ) -> Continuation:
        """Sample up to `max_new_tokens` tokens after `prefix` with this seed. A backend
        may end early once `stop` says the rest would be thrown away; the loop cuts the
        same way whether it does or not."""
        ...


def chat_prompt(tokenizer: PreTrainedTokenizerBase, user_prompt: str) -> str:
    """`user_prompt` as a user turn in the tokenizer's chat template, assistant turn open."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": user_prompt}], add_generation_prompt=True, tokenize=False
    )


def check_fits(name: str, config: ModelConfig, prompt_tokens: int, max_new_tokens: int) -> None:
    """Raise ContextOverflow when the prompt and the new tokens exceed the context."""
    if prompt_tokens + max_new_tokens > config.max_context_tokens:
        raise ContextOverflow(
            f"{prompt_tokens} tokens plus {max_new_tokens} new exceed the context of "
            f"{name!r} ({config.max_context_tokens} tokens)"
        )
