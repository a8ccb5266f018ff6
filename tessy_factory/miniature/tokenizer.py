"""Train a small byte-level BPE tokenizer with a Qwen-style chat template, all offline."""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|im_end|>"
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", EOS)
# Added but not special, as in Qwen3: servers decode with special tokens skipped, and a
# special </think> would vanish from returned text.
THINK_TOKENS = ("<think>", "</think>")

# Pre-tokens: a run of non-space characters after at most one space, with the newline that
# ends its line if one does; or a run of other whitespace. Unlike GPT-2's pattern,
# punctuation stays with its word, so code reads in few tokens (`print(max(a))\n`,
# ` input().split()))\n`): the traces are shorter to train on, each line's token names the
# next one, and the student copies its thinking's code token by token.
WORDS = r" ?\S+\n?|\s+(?!\S)|\s+"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A BPE tokenizer trained on `texts`, wrapped for transformers, with the chat template."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(WORDS), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS,
        pad_token="<|endoftext|>",
        bos_token=None,
    )
    wrapped.add_tokens(list(THINK_TOKENS), special_tokens=False)
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped
