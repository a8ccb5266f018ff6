"""The quality gate: a great-expectations suite over a run's published rows.

GX validates the DataFrame read from DuckDB, because GX's SQL datasource returns wrong results
on DuckDB. The outcome renders as our own markdown table: GX Data Docs load scripts from CDNs,
and the build report must read well offline.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
from great_expectations.core import ExpectationValidationResult
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from tessy_factory.curate.rows import COLUMNS
from tessy_factory.verify.judge import Verdict

# What a stored verdict can be: every verdict but the judge's own failure, never stored.
KNOWN_VERDICTS = tuple(v.value for v in Verdict if v is not Verdict.SANDBOX_ERROR)

# GX's pandas engine applies this with `re.search` and no flags: `[\s\S]` spans newlines, and
# `^`/`$` anchor at the ends of the whole text.
THINK_BLOCK = r"^<think>\n[\s\S]*\n</think>\n\n[\s\S]+$"

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = 3


class Outcome(NamedTuple):
    """One expectation's result, in words fit for the report."""

    check: str
    expectation: str
    column: str
    success: bool
    observed: str


@dataclass(frozen=True)
class QualityResult:
    """Whether the rows passed every expectation, and each expectation's outcome."""

    success: bool
    results: list[Outcome]

    def to_markdown(self) -> str:
        """A table with one line per expectation, failures marked, for the build report."""
        lines = [
            "| Check | Expectation | Column | Result | Observed |",
            "| --- | --- | --- | --- | --- |",
        ]
        for outcome in self.results:
            result = "pass" if outcome.success else "**FAIL**"
            cells = (outcome.check, outcome.expectation, outcome.column, result, outcome.observed)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        return "\n".join(lines) + "\n"

    def failed_checks(self) -> list[str]:
        """Each failing expectation with what it observed: `ids are unique (2 unexpected, ...)`."""
        return [f"{o.check} ({o.observed})" for o in self.results if not o.success]

    def plus(self, other: QualityResult) -> QualityResult:
        """Both results as one: it passes when both pass."""
        return QualityResult(self.success and other.success, self.results + other.results)


def check_quality(rows: pd.DataFrame, max_total_tokens: int, min_rows: int) -> QualityResult:
    """Validate published rows: schema, ids, think blocks, verdicts, bounds and row count."""
    # Validation-only column: the regex expectation needs the assistant turn as plain text.
    texts = rows["messages"].map(_last_content) if "messages" in rows else ""
    frame = rows.assign(assistant_text=texts)
    return validate(frame, _suite(max_total_tokens, min_rows))


def validate(frame: pd.DataFrame, suite: gx.ExpectationSuite) -> QualityResult:
    """Run `suite` over `frame`; the outcomes in the suite's order."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    validation = batch.validate(suite, result_format="SUMMARY")
    order = [expectation.description for expectation in suite.expectations]
    outcomes = sorted(map(_outcome, validation.results), key=lambda o: order.index(o.check))
    return QualityResult(success=bool(validation.success), results=outcomes)


def _suite(max_total_tokens: int, min_rows: int) -> gx.ExpectationSuite:
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=list(COLUMNS),
            exact_match=False,
            description="every published column is present",
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="id", description="every row has an id"),
        gxe.ExpectColumnValuesToBeUnique(column="id", description="ids are unique"),
        gxe.ExpectColumnValuesToMatchRegex(
            column="assistant_text",
            regex=THINK_BLOCK,
            description="the assistant turn is a think block, then an answer",
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="verdict",
            value_set=list(KNOWN_VERDICTS),
            description="verdicts are known judge verdicts",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="teacher_token_share",
            min_value=0,
            max_value=1,
            description="the teacher's token share is a fraction",
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="n_tokens",
            min_value=1,
            max_value=max_total_tokens,
            description=f"samples have 1 to {max_total_tokens} tokens",
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="tests_total",
            column_B="tests_passed",
            or_equal=True,
            description="no sample passed more tests than it ran",
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=min_rows, description=f"at least {min_rows} rows to publish"
        ),
    ]
    return gx.ExpectationSuite(name="published_rows", expectations=expectations)


def _batch_definition() -> BatchDefinition:
    # A fresh in-memory context per check costs ~20 ms (measured), so nothing is cached.
    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("published").add_dataframe_asset("rows")
    return asset.add_batch_definition_whole_dataframe("all rows")


def _last_content(messages: Any) -> str:
    # Malformed messages become "" rather than None: GX skips nulls, "" fails the regex.
    try:
        return messages[-1]["content"] or ""
    except (TypeError, IndexError, KeyError):
        return ""


def _outcome(result: ExpectationValidationResult) -> Outcome:
    config = result.expectation_config
    kwargs = config.kwargs
    if "column_A" in kwargs:
        column = f"{kwargs['column_A']} >= {kwargs['column_B']}"
    else:
        column = kwargs.get("column", "")
    return Outcome(
        check=config.description,
        expectation=config.type,
        column=column,
        success=bool(result.success),
        observed=_observed(result),
    )


def _observed(result: ExpectationValidationResult) -> str:
    """What GX saw: an error, the missing columns, an observed value, or unexpected values."""
    error = _error_message(result.exception_info or {})
    if error:
        return f"error: {error}"
    details = result.result
    mismatch = details.get("details", {}).get("mismatched")
    if mismatch is not None:
        return f"missing {mismatch['missing']}" if mismatch.get("missing") else "none missing"
    if "observed_value" in details:
        return f"observed {_short.repr(_plain(details['observed_value']))}"
    unexpected = details.get("unexpected_count", 0)
    if not unexpected:
        return f"all {details.get('element_count', 0)} as expected"
    examples = [_plain(value) for value in details.get("partial_unexpected_list", [])]
    return f"{unexpected} unexpected, e.g. {_short.repr(examples)}"


def _error_message(info: dict[str, Any]) -> str | None:
    # GX reports one exception directly, or several keyed by the metric that raised them.
    entries = [info] if "raised_exception" in info else list(info.values())
    raised = (entry.get("exception_message") for entry in entries if entry.get("raised_exception"))
    return next(raised, None)


def _plain(value: Any) -> Any:
    """Numpy scalars as Python values, so the report shows `3`, not `np.int64(3)`."""
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    return value.item() if isinstance(value, np.generic) else value
