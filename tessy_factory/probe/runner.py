"""One probe, step by step, without Prefect: which modes to fine-tune (and why others are
skipped), then per mode a fresh student fine-tuned and evaluated, and the untrained one."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tessy_factory.curate.student_nll import Student
from tessy_factory.home import FactoryHome
from tessy_factory.miniature.build import resolve_model
from tessy_factory.probe.config import BASELINE, ProbeConfig
from tessy_factory.probe.dataset import Version
from tessy_factory.probe.evaluate import Evaluation, evaluate
from tessy_factory.probe.finetune import Training, fine_tune
from tessy_factory.probe.results import ModeOutcome, ProbeKey
from tessy_factory.sources import Prompt
from tessy_factory.verify.judge import Judge


def probe_hash(config: ProbeConfig) -> str:
    """The probe's identity on a version: its config's fingerprint without the dataset (the
    version is keyed apart, so `latest` and the version it names are one probe)."""
    return config.model_copy(update={"dataset": type(config.dataset)()}).fingerprint()


def plan_modes(version: Version, config: ProbeConfig) -> tuple[list[str], list[ModeOutcome]]:
    """The modes to fine-tune on (the config's, else every mode the version has), and a
    skipped outcome, with its reason, for each asked-for mode the version has no rows of."""
    wanted = config.modes if config.modes is not None else version.modes()
    present = set(version.modes())
    trained = [mode for mode in wanted if mode in present]
    skipped = [
        ModeOutcome(
            mode,
            status="skipped",
            reason=f"version {version.version} of {version.repo_id} has no rows of mode {mode}",
        )
        for mode in wanted
        if mode not in present
    ]
    return trained, skipped


@dataclass(frozen=True)
class Evaluator:
    """What every student of a probe is evaluated with."""

    problems: Sequence[Prompt]
    judge: Judge
    scorer: Student
    config: ProbeConfig

    @classmethod
    def load(cls, config: ProbeConfig, problems: Sequence[Prompt], home: FactoryHome) -> Evaluator:
        # The untrained student scores every student's answers: how far they drifted from it.
        scorer = Student.load(config.student, home.models, with_nll=True)
        return cls(problems, Judge.from_config(config.verification), scorer, config)

    def __call__(self, model_path: str) -> Evaluation:
        evaluation = self.config.evaluation
        return evaluate(
            model_path,
            self.config.student,
            self.problems,
            evaluation.samples,
            evaluation.pass_k,
            evaluation.generation,
            self.judge,
            self.scorer,
            self.config.report.style_phrases,
            workers=self.config.verification.workers,
            nll_batch_size=evaluation.nll_batch_size,
        )


def student_path(config: ProbeConfig, home: FactoryHome) -> str:
    """The untrained student's weights: a directory or Hub id (built if miniature)."""
    return resolve_model(config.student.model, home.models, predictor=False)


def run_baseline(config: ProbeConfig, home: FactoryHome, evaluator: Evaluator) -> ModeOutcome:
    """The untrained student's row."""
    return _outcome(BASELINE, evaluator(student_path(config, home)), None, None)


def run_mode(
    mode: str,
    version: Version,
    key: ProbeKey,
    config: ProbeConfig,
    home: FactoryHome,
    evaluator: Evaluator,
    progress: Callable[[int, int, float], None] | None = None,
) -> ModeOutcome:
    """Fine-tune a fresh student on `mode`'s rows of the version, evaluate it, and keep its
    weights only when the config asks (under models/probes/)."""
    kept = checkpoint_dir(home, key, mode) if config.keep_checkpoints else None
    with tempfile.TemporaryDirectory(prefix="probe-", dir=home.scratch) as scratch:
        out_dir = kept or Path(scratch) / mode
        if kept is not None:
            shutil.rmtree(kept, ignore_errors=True)
        training = fine_tune(
            student_path(config, home), version.rows_of(mode), config.training, out_dir, progress
        )
        evaluation = evaluator(str(out_dir))
    return _outcome(mode, evaluation, training, str(kept) if kept else None)


def checkpoint_dir(home: FactoryHome, key: ProbeKey, mode: str) -> Path:
    """Where a kept fine-tuned student goes: per dataset, version, probe and mode."""
    # A folder name, not a Prefect key (artifacts.key_slug): case and dots may stay there,
    # so `Org/Data.v2` stays recognisable; the rest (the slash first) becomes a dash, so the
    # dataset is one folder.
    dataset = re.sub(r"[^A-Za-z0-9.-]+", "-", key.repo_id)
    return home.models / "probes" / dataset / key.version / key.probe_hash / mode


def _outcome(
    mode: str, evaluation: Evaluation, training: Training | None, checkpoint: str | None
) -> ModeOutcome:
    return ModeOutcome(
        mode,
        train_rows=training.rows if training else None,
        rows_too_long=training.too_long if training else None,
        problems=evaluation.problems,
        samples=evaluation.samples,
        generated=evaluation.generated,
        accepted=evaluation.accepted,
        pass_at=evaluation.pass_at,
        phrase_per_1k_tokens=evaluation.phrase_per_1k_tokens,
        student_nll=evaluation.student_nll,
        train_loss=training.steps if training else [],
        epoch_loss=training.epochs if training else [],
        train_seconds=training.seconds if training else None,
        eval_seconds=evaluation.seconds,
        checkpoint=checkpoint,
    )
