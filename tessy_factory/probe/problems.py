"""The probe's held-out evaluation problems, read from build-style sources, and the check
that none of them is among the rows a student is fine-tuned on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tessy_factory.config import PromptSource
from tessy_factory.sources import Prompt, normalise, normalise_text, prompt_id, read_rows
from tessy_factory.sources.readers import source_license

# Overlapping problems named in the error, at most.
NAMED = 10


class EvalProblemError(ValueError):
    """The evaluation problems cannot be used: none read, or some are training rows."""


def read_problems(sources: Sequence[PromptSource], base_dir: Path) -> list[Prompt]:
    """Every well-formed problem of the sources, in order, one per prompt id (the first);
    EvalProblemError when there is none. Malformed rows are left out, as a build
    quarantines them."""
    problems: dict[str, Prompt] = {}
    for source in sources:
        license = source_license(source)
        for raw in read_rows(source, base_dir):
            row = normalise(raw, license, source.comparison)
            if isinstance(row, Prompt) and row.prompt_id not in problems:
                problems[row.prompt_id] = row
    if not problems:
        raise EvalProblemError("the evaluation sources hold no usable problem")
    return list(problems.values())


def check_no_overlap(problems: Sequence[Prompt], rows: pd.DataFrame, where: str) -> None:
    """Raise EvalProblemError naming the evaluation problems whose prompt id, or whose
    exact (normalised) text, is a training row's: a student fine-tuned on a problem would
    be judged on what it memorised."""
    ids = set(rows["prompt_id"])
    texts = {normalise_text(_user_turn(messages)) for messages in rows["messages"]}
    text_ids = {prompt_id(text) for text in texts}
    overlapping = [p for p in problems if p.prompt_id in ids or p.prompt_id in text_ids]
    if not overlapping:
        return
    named = ", ".join(f"{p.source} {p.location} ({p.prompt_id})" for p in overlapping[:NAMED])
    more = f" and {len(overlapping) - NAMED} more" if len(overlapping) > NAMED else ""
    raise EvalProblemError(
        f"{len(overlapping)} of {len(problems)} evaluation problems are in the training rows "
        f"of {where}: {named}{more}; evaluate on problems the version does not hold"
    )


def _user_turn(messages: Sequence[dict]) -> str:
    return next((m["content"] for m in messages if m["role"] == "user"), "")
