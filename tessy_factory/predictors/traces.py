"""The thinking traces a boundary predictor learns from: sampled from its model, or read.

Every trace slot ends as a `TraceRow`: its thinking, or why there is none (the model did
not finish thinking, a file line is not JSON or has no text, the thinking is empty). Slots
that failed are counted and reported; they never stop the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tessy_factory.config import GenerationConfig
from tessy_factory.engine.loop import Writer, generate_thinking
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.trace_format import THINK_CLOSE, THINK_OPEN


@dataclass(frozen=True)
class TraceRow:
    """One trace slot: `status` ok, empty or failed; the reason when not ok."""

    trace_id: int
    status: str
    text: str | None = None
    reason: str | None = None


def thinking_part(text: str) -> str:
    """The thinking of a sample's text (between <think> and </think>), else all of it."""
    if THINK_OPEN.strip() in text:
        text = text.split(THINK_OPEN.strip(), 1)[1]
        text = text.split(THINK_CLOSE, 1)[0]
    return text.strip()


def read_trace_file(path: Path) -> list[TraceRow]:
    """One row per line of a JSONL file whose objects carry the trace in `text`."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"trace file {path}: cannot read it: {exc}") from exc
    return [_row(index, line) for index, line in enumerate(lines)]


def _row(index: int, line: str) -> TraceRow:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return TraceRow(index, "failed", reason=f"line {index + 1} is not JSON: {exc.msg}")
    if not isinstance(record, dict) or not isinstance(record.get("text"), str):
        return TraceRow(index, "failed", reason=f"line {index + 1} has no string `text` field")
    return _kept(index, thinking_part(record["text"]))


def _kept(trace_id: int, thinking: str) -> TraceRow:
    if not thinking:
        return TraceRow(trace_id, "empty", reason="the thinking is empty")
    return TraceRow(trace_id, "ok", thinking)


async def sample_traces(
    writer: Writer,
    slots: Sequence[tuple[int, str]],
    config: GenerationConfig,
    concurrency: int,
    store: Callable[[TraceRow], None],
) -> None:
    """Sample the thinking of `writer` for each (trace id, prompt), `concurrency` at once,
    handing each finished row to `store` as it comes, so a crash loses none of them."""
    gate = asyncio.Semaphore(concurrency)

    async def one(trace_id: int, prompt: str) -> None:
        async with gate:
            seed = config.seed * 1_000_003 + trace_id
            try:
                row = _kept(trace_id, await generate_thinking(prompt, writer, config, seed))
            except GenerationFailed as exc:
                row = TraceRow(trace_id, "failed", reason=str(exc))
        store(row)

    async with asyncio.TaskGroup() as group:
        for trace_id, prompt in slots:
            group.create_task(one(trace_id, prompt))
