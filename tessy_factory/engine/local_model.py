"""A generating model run in-process with transformers (the `local` backend)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

from tessy_factory.config import ModelConfig
from tessy_factory.engine.text_model import Continuation, StopHint, chat_prompt, check_fits
from tessy_factory.engine.tokens import Encoding, count_tokens, reencode

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
    if torch.cuda.is_available():
        model.to("cuda")
    else:
        # On CPU, sdpa attends grouped key/value heads in place, where transformers would
        # copy them out to every query head whenever a mask is needed, as for the few new
        # tokens a turn reads after a cache: 21 ms against 14 ms for 5 tokens after 4k
        # (bench LM). transformers' own switch; CUDA kernels want the copy, so only here.
        os.environ.setdefault("TRANSFORMERS_SDPA_FORCE_GQA", "1")
    model.eval()
    return tokenizer, model


@dataclass
class KVCache:
    """One model's key/value cache for one sample, the token ids it holds, and the last
    prefix's encoding (to re-encode only the next prefix's new end)."""

    values: DynamicCache
    ids: list[int] = field(default_factory=list)
    encoding: Encoding = field(default_factory=Encoding)

    def feed(self, tokenizer: PreTrainedTokenizerBase, prefix: str) -> list[int]:
        """Token ids of `prefix`, tokenised as a whole, that the cache does not hold: it is
        cut back to the longest run of tokens it shares with them, keeping at least one
        token uncached, since the next forward pass needs one to predict from.

        Where another model's text joins this one's, the model so sees the same tokens as
        it would without a cache."""
        self.encoding, shared = reencode(tokenizer, self.encoding, prefix)
        ids = self.encoding.ids
        keep = min(shared, len(self.ids))
        while keep < min(len(self.ids), len(ids)) and self.ids[keep] == ids[keep]:
            keep += 1
        keep = min(keep, len(ids) - 1)
        surplus = self.values.get_seq_length() - keep
        if surplus > 0:
            self.values.crop(-surplus)
        self.ids = self.ids[:keep]
        return ids[keep:]


class LocalModel:
    """A causal LM with its tokenizer and chat template, sampling with the config's settings.

    Sampling is the config's temperature and top-p (plus any tokens the model's generation
    config suppresses), as on the openai backend, which sends those alone.
    """

    def __init__(self, name: str, path: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.tokenizer, self.model = load_pretrained(AutoModelForCausalLM, "model", name, path)
        self.device = self.model.device
        self.sampling = _sampling(config, self.model.generation_config.suppress_tokens)
        # The model's own random stream, seeded per call: `torch.manual_seed` also seeds
        # every accelerator backend torch knows of (0.3-0.4 ms a call here, against a few
        # microseconds), paid at every turn of a TESSY sample; it draws the same numbers.
        self.generator = torch.Generator(device=self.device)
        self.end_ids = _end_of_turn_ids(self.model.generation_config.eos_token_id, self.tokenizer)

    def prompt_text(self, user_prompt: str) -> str:
        """The user turn in this model's own chat template, ready for the assistant turn."""
        return chat_prompt(self.tokenizer, user_prompt)

    def new_cache(self) -> KVCache:
        """A KV cache for one sample's text, to pass to every `continue_text` of it."""
        return KVCache(DynamicCache(config=self.model.config))

    def count_tokens(self, text: str) -> int:
        """The number of this model's tokens in `text`."""
        return count_tokens(self.tokenizer, text)

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
        self.generator.manual_seed(seed)
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
        model (see `KVCache.feed`); without one, all of them are. Generation ends early,
        with the token that makes it so, once `stop` is true of the pieces written.
        """
        # A decode loop of our own rather than `generate`: a turn is a few tokens, and
        # generate's set-up (config copy, validation, processors) cost about as much as a
        # decode step per call here, paid every turn.
        if cache is None:
            cache = KVCache(DynamicCache(config=self.model.config))  # for this call only
        pending = cache.feed(self.tokenizer, prefix)
        check_fits(self.name, self.config, len(cache.ids) + len(pending), max_new_tokens)
        new: list[int] = []
        pieces: list[str] = []
        ended = False
        for _ in range(max_new_tokens):
            inputs = torch.tensor([pending], device=self.device)
            logits = self.model(
                input_ids=inputs, cache=cache.values, use_cache=True, logits_to_keep=1
            ).logits
            cache.ids += pending
            token = self.sampling(inputs, logits[:, -1, :].float(), self.generator)
            if token in self.end_ids:
                ended = True
                break
            new.append(token)
            pending = [token]
            if stop is not None:
                pieces += self._pieces(new, start=len(pieces))
                if stop(pieces):
                    break
        return Continuation(pieces if stop is not None else self._pieces(new), ended)

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


def _end_of_turn_ids(
    generation_eos: int | list[int] | None, tokenizer: PreTrainedTokenizerBase
) -> frozenset[int]:
    """The tokens that end a turn: the tokenizer's end of sequence and every one the model's
    generation config lists (chat models often list several, as Qwen's <|im_end|> and
    <|endoftext|>), as `generate` would stop at."""
    listed = [generation_eos] if isinstance(generation_eos, int) else list(generation_eos or [])
    return frozenset(i for i in (*listed, tokenizer.eos_token_id) if i is not None)


Sampler = Callable[[torch.Tensor, torch.Tensor, torch.Generator], int]


def _sampling(config: ModelConfig, suppressed: list[int] | None) -> Sampler:
    """Picks the next token from the last position's logits, with transformers' own logits
    processors: greedy at temperature 0, else temperature and top-p sampling."""
    processors = []
    if suppressed:
        processors.append(SuppressTokensLogitsProcessor(suppressed))
    if config.temperature > 0:
        processors.append(TemperatureLogitsWarper(config.temperature))
        if config.top_p < 1:
            processors.append(TopPLogitsWarper(config.top_p))

    def sample(inputs: torch.Tensor, logits: torch.Tensor, generator: torch.Generator) -> int:
        # Each processor called as itself: a LogitsProcessorList inspects every processor's
        # signature on every call, for arguments these never take (about 40 us a token).
        scores = logits
        for processor in processors:
            scores = processor(inputs, scores)
        if config.temperature == 0:
            return int(scores.argmax(-1))
        return int(torch.multinomial(scores.softmax(-1), num_samples=1, generator=generator))

    return sample
