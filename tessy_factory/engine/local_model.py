"""A generating model run in-process with transformers (the `local` backend)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from tessy_factory.config import ModelConfig


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message names it."""


class ContextOverflow(ValueError):
    """The text no longer fits the model's context window."""


@dataclass(frozen=True)
class Continuation:
    """New text as the model's own token pieces, and whether it ended its turn."""

    pieces: list[str]
    ended: bool

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def load_pretrained(
    model_class: type, what: str, name: str, path: str
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and model from a directory or Hub id, on the GPU when there is one."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = model_class.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {what} {name!r} from {path!r}: {exc}") from exc
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return tokenizer, model


class LocalModel:
    """A causal LM with its tokenizer and chat template, sampling with the config's settings."""

    def __init__(self, name: str, path: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.tokenizer, self.model = load_pretrained(AutoModelForCausalLM, "model", name, path)
        self.device = self.model.device

    def prompt_text(self, user_prompt: str) -> str:
        """The user turn in this model's own chat template, ready for the assistant turn."""
        return self.tokenizer.apply_chat_template(
            [{"role": "user", "content": user_prompt}], add_generation_prompt=True, tokenize=False
        )

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    @torch.inference_mode()
    def continue_text(self, prefix: str, max_new_tokens: int) -> Continuation:
        """Sample up to `max_new_tokens` tokens after `prefix`."""
        ids = self.tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"]
        if ids.shape[1] + max_new_tokens > self.config.max_context_tokens:
            raise ContextOverflow(
                f"{ids.shape[1]} tokens plus {max_new_tokens} new exceed the context of "
                f"{self.name!r} ({self.config.max_context_tokens} tokens)"
            )
        output = self.model.generate(
            ids.to(self.device),
            attention_mask=torch.ones_like(ids).to(self.device),
            max_new_tokens=max_new_tokens,
            do_sample=self.config.temperature > 0,
            temperature=self.config.temperature or None,
            top_p=self.config.top_p,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
        )[0, ids.shape[1] :].tolist()
        ended = bool(output) and output[-1] == self.tokenizer.eos_token_id
        if ended:
            output = output[:-1]
        return Continuation(self._pieces(output), ended)

    def _pieces(self, ids: list[int]) -> list[str]:
        # Decoding growing prefixes keeps multi-byte characters whole that per-token
        # decoding would split.
        pieces, previous = [], ""
        for end in range(1, len(ids) + 1):
            text = self.tokenizer.decode(ids[:end], skip_special_tokens=False)
            pieces.append(text[len(previous) :])
            previous = text
        return pieces
