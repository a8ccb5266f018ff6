"""Tasks: read the evaluation sets when a build starts; dedup, decontaminate and decide
keep/drop in DuckDB, then the great-expectations gate and the drop ledger's gates."""

from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.curate.decontam import EvalItem, load_eval_sets
from tessy_factory.curate.decontam_config import DecontaminationConfig
from tessy_factory.curate.dedup import curate, reason_counts
from tessy_factory.curate.gates import check_ledger_gates
from tessy_factory.curate.ledger import drop_contaminated, drop_near_duplicates, gate_counts
from tessy_factory.curate.quality import QualityResult, check_quality
from tessy_factory.curate.rows import published_rows
from tessy_factory.curate.student_tokens import near_dup_tokenizer
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome


@task(name="read-eval-sets", cache_policy=NO_CACHE)
def read_eval_sets(config: DecontaminationConfig, base_dir: Path) -> list[EvalItem]:
    """Every evaluation item to decontaminate against; fails naming a bad file."""
    items = load_eval_sets(config, base_dir)
    get_run_logger().info("decontamination: %d evaluation items", len(items))
    return items


@task(name="curate", cache_policy=NO_CACHE)
def curate_run(
    run_id: str, config: BuildConfig, home: FactoryHome, eval_items: list[EvalItem]
) -> QualityResult:
    """Decide what is kept, then validate the rows to publish and the run's ledger counts;
    the caller gates on success."""
    curation = config.curation
    modes = [str(mode) for mode in config.generation.modes]
    with connect(home.database) as con:
        # Loaded before anything is written: a tokenizer that cannot load changes nothing.
        tokenizer = near_dup_tokenizer(con, run_id, config, home.models)
        curate(con, run_id, curation.require_accepted, curation.include_unchecked_prompts)
        language = config.verification.language
        drop_contaminated(con, run_id, eval_items, curation.decontamination, language)
        repo_id = config.publish.repo_id
        near = drop_near_duplicates(con, run_id, curation.near_dup, repo_id, modes, tokenizer)
        counts = reason_counts(con, run_id)
        rows = published_rows(con, run_id)
        ledger = gate_counts(con, run_id)
    get_run_logger().info("curation: %s; near-duplicate check: %s", counts, near)
    quality = check_quality(rows, curation.max_total_tokens, curation.min_rows_to_publish)
    return quality.plus(check_ledger_gates(ledger, curation.gates))
