"""The run-level gates of `curation.gates` on a real DuckDB file: the drop ledger's counts
read back from hand-made ledger rows, the gates passing at and above a known rate and failing
below it, and the config that sets them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_curate import GENERATIONS, VERDICTS, add_run

from tessy_factory.config import BuildConfig, GatesConfig
from tessy_factory.curate.dedup import curate
from tessy_factory.curate.gates import LEDGER_GATES, METRIC_GATES, check_ledger_gates
from tessy_factory.curate.ledger import gate_counts, record
from tessy_factory.db import connect


@pytest.fixture
def counts(tmp_path: Path):
    """A run's ledger: s0, s2, s3 and s6 kept after the exact pass (s1 copies s0; s4 and s5
    were never verified), then s2 dropped and s3 flagged as contaminated, and s6 dropped as
    a near-duplicate of s0: the near-duplicate pass checked s0, s3 and s6."""
    with connect(tmp_path / "factory.duckdb") as con:
        add_run(con, "r1", GENERATIONS, VERDICTS)
        con.execute("UPDATE generations SET text = 'a text of its own' WHERE sample_id = 's2'")
        curate(con, "r1", require_accepted=False)
        contaminated = {"matched_id": "q-1", "field": "prompt", "detail": "local:q-1"}
        record(
            con,
            "r1",
            [
                {"sample_id": "s2", "kept": False, "reason": "contaminated", **contaminated},
                {"sample_id": "s3", "kept": True, "reason": "kept", "flag": "contaminated"},
                {"sample_id": "s6", "kept": False, "reason": "near-duplicate", "matched_id": "s0"},
            ],
        )
        yield gate_counts(con, "r1")


def test_the_ledger_counts_are_read_as_defined(counts) -> None:
    assert counts.to_dict("records") == [
        {
            "near_duplicates": 1,
            "near_duplicate_checked": 3,
            "near_duplicate_rate": pytest.approx(1 / 3),
            "contaminated_rows": 2,
        }
    ]


@pytest.mark.parametrize(
    ("gate", "limit", "passes"),
    [
        ("max_near_duplicate_rate", 1 / 3, True),
        ("max_near_duplicate_rate", 0.5, True),
        ("max_near_duplicate_rate", 0.3, False),
        ("max_contaminated_rows", 2, True),
        ("max_contaminated_rows", 1, False),
        ("max_contaminated_rows", 0, False),
    ],
)
def test_a_ledger_gate_passes_at_or_above_the_runs_count_and_fails_below(
    counts, gate: str, limit: float, passes: bool
) -> None:
    result = check_ledger_gates(counts, GatesConfig(**{gate: limit}))

    assert result.success is passes
    [outcome] = result.results
    assert outcome.check.startswith(f"this run: {LEDGER_GATES[gate].what} at most {limit} ")
    assert outcome.check.endswith(f"(curation.gates.{gate})")
    assert outcome.observed == ("observed 2" if "rows" in gate else f"observed {1 / 3!r}")
    assert (f"| {outcome.check} |" in result.to_markdown()) and (
        ("**FAIL**" in result.to_markdown()) is not passes
    )


def test_no_ledger_gate_set_checks_nothing(counts) -> None:
    assert check_ledger_gates(counts, GatesConfig()).results == []


def test_every_gate_key_has_its_expectation() -> None:
    keys = set(GatesConfig.model_fields) - {"mode"}
    assert set(LEDGER_GATES) == set(GatesConfig.LEDGER_KEYS)
    assert set(METRIC_GATES) | set(LEDGER_GATES) == keys


def test_ledger_gates_need_no_metrics_but_their_own_checks() -> None:
    gates = {"max_near_duplicate_rate": 0.1, "max_contaminated_rows": 0}
    curation = {"metrics": {"enabled": False}, "gates": gates}
    assert (
        BuildConfig.model_validate({"curation": curation}).curation.gates.max_contaminated_rows == 0
    )
    with pytest.raises(ValueError, match=r"max_near_duplicate_rate needs a curation\.near_dup"):
        BuildConfig.model_validate(
            {"curation": {**curation, "near_dup": {"response": {"enabled": False}}}}
        )
    with pytest.raises(ValueError, match=r"max_contaminated_rows needs .*decontamination\.enabled"):
        BuildConfig.model_validate(
            {"curation": {**curation, "decontamination": {"enabled": False}}}
        )
    with pytest.raises(ValueError, match=r"max_near_duplicate_rate\n.*less than or equal to 1"):
        BuildConfig.model_validate({"curation": {"gates": {"max_near_duplicate_rate": 1.5}}})
