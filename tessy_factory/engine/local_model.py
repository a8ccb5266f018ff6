"""A generating model run in-process with transformers (the `local` backend)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from tessy_factory.config import ModelConfig
from tessy_factory.engine.text_model import Continuation, StopHint, chat_prompt, check_fits

# Tokens decoded before each new one to find its text.
PIECE_CONTEXT = 8


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message names it."""


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


@dataclass
class KVCache:
    """One model's key/value cache for one sample, and the token ids it holds."""

    values: DynamicCache
    ids: list[int] = field(default_factory=list)

    def keep_common_prefix(self, ids: list[int]) -> None:
        """Drop cached tokens from the first one that differs from `ids`, keeping at least
        one token of `ids` uncached, since generation needs one token to run."""
        keep = 0
        for cached, new in zip(self.ids, ids, strict=False):
            if cached != new:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)
        surplus = self.values.get_seq_length() - keep
        if surplus > 0:
            self.values.crop(-surplus)
        self.ids = self.ids[:keep]


class LocalModel:
    """A causal LM with its tokenizer and chat template, sampling with the config's settings."""

    def __init__(self, name: str, path: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.tokenizer, self.model = load_pretrained(AutoModelForCausalLM, "model", name, path)
        self.device = self.model.device

    def prompt_text(self, user_prompt: str) -> str:
        """The user turn in this model's own chat template, ready for the assistant turn."""
        return chat_prompt(self.tokenizer, user_prompt)

    def new_cache(self) -> KVCache:
        """A KV cache for one sample's text, to pass to every `continue_text` of it."""
        return KVCache(DynamicCache(config=self.model.config))

    async def complete(
        self,
        prefix: str,
        max_new_tokens: int,
        cache: KVCache | None,
        seed: int,
        stop: StopHint | None = None,
    ) -> Continuation:
        """`continue_text` seeded, for the loop. It runs in the event loop's thread: local
        generation is compute-bound, so a build runs local samples one at a time."""
        torch.manual_seed(seed)
        return self.continue_text(prefix, max_new_tokens, cache, stop)

    @torch.inference_mode()
    def continue_text(
        self,
        prefix: str,
        max_new_tokens: int,
        cache: KVCache | None = None,
        stop: StopHint | None = None,
    ) -> Continuation:
        """Sample up to `max_new_tokens` tokens after `prefix`.

        With a cache, only the tokens of `prefix` the cache has not seen are run through the
        model. `prefix` is tokenised whole every time, so where another model's text joins
        this one's, the model sees the same tokens as without a cache: the cache is cut
        back to the longest prefix of tokens it shares with the new tokenisation.
        Generation ends early, with the token that makes it so, once `stop` is true of the
        pieces written.
        """
        ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
        check_fits(self.name, self.config, len(ids), max_new_tokens)
        if cache is not None:
            cache.keep_common_prefix(ids)
        tensor = torch.tensor([ids], device=self.device)
        output = self.model.generate(
            tensor,
            attention_mask=torch.ones_like(tensor),
            cache=None if cache is None else cache.values,
            max_new_tokens=max_new_tokens,
            do_sample=self.config.temperature > 0,
            temperature=self.config.temperature or None,
            top_p=self.config.top_p,
            eos_token_id=self.tokenizer.eos_token_id,
            pad_token_id=self.tokenizer.pad_token_id,
            stopping_criteria=None
            if stop is None
            else StoppingCriteriaList([_StopWhen(self, len(ids), stop)]),
        )[0].tolist()
        if cache is not None:
            cache.ids = output[: cache.values.get_seq_length()]
        new = output[len(ids) :]
        ended = bool(new) and new[-1] == self.tokenizer.eos_token_id
        if ended:
            new = new[:-1]
        return Continuation(self._pieces(new), ended)

    def _pieces(self, ids: list[int], start: int = 0) -> list[str]:
        """The text of each of `ids[start:]`, in order."""
        # Each token's text is what it adds to a decode of the few tokens before it: that
        # keeps multi-byte characters whole, which per-token decoding would split, without
        # re-decoding the whole continuation for every token.
        pieces = []
        for end in range(start + 1, len(ids) + 1):
            first = max(0, end - PIECE_CONTEXT)
            before = self.tokenizer.decode(ids[first : end - 1], skip_special_tokens=False)
            after = self.tokenizer.decode(ids[first:end], skip_special_tokens=False)
            pieces.append(after[len(before) :])
        return pieces


class _StopWhen(StoppingCriteria):
    """Asks a stop hint after every new token, decoding only the tokens it has not seen."""

    def __init__(self, model: LocalModel, prompt_length: int, stop: StopHint) -> None:
        self.model = model
        self.prompt_length = prompt_length
        self.stop = stop
        self.pieces: list[str] = []

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.Tensor:
        new = input_ids[0, self.prompt_length :].tolist()
        self.pieces += self.model._pieces(new, start=len(self.pieces))
        return torch.tensor([self.stop(self.pieces)], device=input_ids.device)
