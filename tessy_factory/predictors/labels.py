"""Per-token labels of a boundary predictor, from the character spans of style in a text.

The one conversion from spans to labels, for annotated windows and miniature traces alike.
`IGNORE` lives here rather than in `tessy_factory.miniature.train`, which imports it from
here, so that this module needs nothing of the miniature world.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedTokenizerBase

# The label of a position that takes no part in the loss (PyTorch's default ignore_index).
IGNORE = -100


def token_labels(
    text: str,
    spans: Sequence[tuple[int, int]],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int | None = None,
) -> tuple[list[int], list[int]]:
    """Token ids of `text`, and per position the class of the *next* token: 1 (style) if
    its characters overlap one of `spans`, else 0; the last position is IGNORE.

    Shifted by one because the classifier is causal: position i predicts token i+1. With
    `max_length`, ids and labels are cut to it after the shift, so the last kept position
    still carries its next token's class.
    """
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    styles = [int(overlaps(token, spans)) for token in encoded["offset_mapping"]]
    # An empty text has no position to carry IGNORE.
    labels = [*styles[1:], IGNORE][: len(styles)]
    return encoded["input_ids"][:max_length], labels[:max_length]


def overlaps(token: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    """Whether the characters [start, end) of `token` overlap any of the [start, end) spans."""
    start, end = token
    return any(start < span_end and span_start < end for span_start, span_end in spans)
