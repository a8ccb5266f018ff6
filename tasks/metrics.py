"""Task: measure the style metrics of a run's rows, then check the metric gates."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tessy_factory.config import BuildConfig
from tessy_factory.curate.gates import check_gates
from tessy_factory.curate.metrics import measure
from tessy_factory.curate.metrics_summary import published_metrics
from tessy_factory.curate.quality import QualityResult
from tessy_factory.curate.student_nll import Student
from tessy_factory.db import connect
from tessy_factory.home import FactoryHome


@task(name="metrics", cache_policy=NO_CACHE)
def measure_run(run_id: str, config: BuildConfig, home: FactoryHome) -> QualityResult:
    """Store every generated row's metrics (when enabled), then gate the rows to publish on
    them; the caller folds the result into the quality gate's."""
    settings, gates = config.curation.metrics, config.curation.gates
    if not settings.enabled:  # no gate can be set then (CurationConfig checks)
        return QualityResult(success=True, results=[])
    # Loaded before the database is opened: a model that cannot load leaves nothing open.
    student = Student.load(config.student, home.models, settings.student_nll)
    phrases = settings.phrases if settings.phrases is not None else config.report.style_phrases
    with connect(home.database) as con:
        scored = measure(con, run_id, settings, phrases, student)
        metrics = published_metrics(con, run_id, gates.mode)
    get_run_logger().info("metrics: %d rows scored by the student now", scored)
    return check_gates(metrics, gates)
