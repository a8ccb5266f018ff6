"""Where to cut a chunk: at the first token of the other kind, never inside a word."""

from __future__ import annotations


def cut_index(pieces: list[str], labels: list[tuple[int, bool]], cut_at_style: bool) -> int | None:
    """The number of model tokens to keep, or None when the whole chunk stays.

    `labels` are (character offset in the chunk, is style) from the boundary predictor. The
    cut goes to the first label of the kind that ends this author's turn, then forward to
    the next word boundary, and always after the first token so every turn makes progress.
    """
    cut_char = next((offset for offset, style in labels if style == cut_at_style), None)
    if cut_char is None:
        return None
    starts = _word_starts(pieces)
    for index in range(1, len(pieces)):
        if starts[index] >= cut_char and _word_boundary(pieces[index - 1], pieces[index]):
            return index
    return None


def _word_starts(pieces: list[str]) -> list[int]:
    """Where each piece's text begins after its leading whitespace.

    Predictors differ in whether a token's offset includes the space before its word (byte-
    level BPE) or not (trimmed offsets, word lists); comparing past the space fits both.
    """
    starts, position = [], 0
    for piece in pieces:
        starts.append(position + len(piece) - len(piece.lstrip()))
        position += len(piece)
    return starts


def _word_boundary(before: str, after: str) -> bool:
    return after[:1].isspace() or before[-1:].isspace()


def ends_at_word_start(pieces: list[str]) -> bool:
    """Whether the last piece begins a word: only then can a cut fall inside `pieces` where
    it could not before the last piece came."""
    return len(pieces) >= 2 and _word_boundary(pieces[-2], pieces[-1])


def last_word_start(pieces: list[str]) -> int | None:
    """The index of the last piece after the first that begins a word: the last place a
    cut can fall (None: the chunk cannot be cut)."""
    return next(
        (i for i in range(len(pieces) - 1, 0, -1) if _word_boundary(pieces[i - 1], pieces[i])),
        None,
    )
