"""Evaluate one student on the held-out problems: it thinks and answers alone (the engine's
student-only mode), the factory's verifier judges each answer, and the figures are pass@k,
the style-phrase rate of its thinking and the untrained student's NLL of what it wrote."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import comb

from tessy_factory.config import GenerationConfig, GenerationMode, ModelConfig
from tessy_factory.curate.metrics import phrase_rate, split_trace
from tessy_factory.curate.student_nll import Student
from tessy_factory.engine.local_model import LocalModel
from tessy_factory.engine.loop import Writer, generate_sample
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.sources import Prompt
from tessy_factory.verify.judge import Judge, Verdict, judge_many


@dataclass
class Evaluation:
    """One student's answers to the held-out problems, judged and measured."""

    problems: int = 0
    samples: int = 0
    generated: int = 0
    accepted: int = 0
    pass_at: dict[str, float] = field(default_factory=dict)
    phrase_per_1k_tokens: float | None = None
    student_nll: float | None = None
    seconds: float = 0.0


def pass_at_k(n: int, correct: int, k: int) -> float:
    """The unbiased pass@k of one problem from `n` samples of which `correct` passed (Chen
    et al., 2021): 1 - C(n - c, k) / C(n, k)."""
    if n - correct < k:
        return 1.0
    return 1.0 - comb(n - correct, k) / comb(n, k)


def sample_seed(base: int, prompt_id: str, index: int) -> int:
    """The seed of one answer: the config's seed, the problem and the sample's index, so
    every student of a probe answers each problem under the same seeds."""
    digest = hashlib.sha256(f"{base}|{prompt_id}|probe|{index}".encode()).hexdigest()
    return int(digest[:8], 16)


def evaluate(
    model_path: str,
    config: ModelConfig,
    problems: Sequence[Prompt],
    samples: int,
    pass_k: Sequence[int],
    generation: GenerationConfig,
    judge: Judge,
    scorer: Student,
    phrases: Sequence[str],
    *,
    workers: int = 0,
    nll_batch_size: int = 8,
) -> Evaluation:
    """Generate `samples` answers per problem with the model at `model_path` alone, judge
    them, and measure them; a failed generation counts as a wrong answer."""
    started = time.perf_counter()
    model = LocalModel(config.model, model_path, config)
    texts = asyncio.run(_answers(model, problems, samples, generation))
    generated = [(p, t) for p, t in zip(_slots(problems, samples), texts, strict=True) if t]
    verdicts = judge_many(judge, [(t, p.tests) for p, t in generated], workers)
    correct: dict[str, int] = {p.prompt_id: 0 for p in problems}
    for (problem, _), judgement in zip(generated, verdicts, strict=True):
        correct[problem.prompt_id] += judgement.verdict == Verdict.ACCEPTED
    thinking = [split_trace(t)[0] for _, t in generated]
    token_counts = scorer.token_counts(thinking)
    rates = [
        rate
        for text, tokens in zip(thinking, token_counts, strict=True)
        if (rate := phrase_rate(text, phrases, tokens)) is not None
    ]
    scores = scorer.score([(p.text, t) for p, t in generated], nll_batch_size)
    nlls = [score.nll for score in scores if score.nll is not None]
    return Evaluation(
        problems=len(problems),
        samples=len(problems) * samples,
        generated=len(generated),
        accepted=sum(correct.values()),
        pass_at={
            str(k): sum(pass_at_k(samples, c, k) for c in correct.values()) / len(problems)
            for k in sorted({1, *pass_k})
        },
        phrase_per_1k_tokens=sum(rates) / len(rates) if rates else None,
        student_nll=sum(nlls) / len(nlls) if nlls else None,
        seconds=time.perf_counter() - started,
    )


def _slots(problems: Sequence[Prompt], samples: int) -> list[Prompt]:
    return [problem for problem in problems for _ in range(samples)]


async def _answers(
    model: LocalModel, problems: Sequence[Prompt], samples: int, generation: GenerationConfig
) -> list[str | None]:
    """Each slot's sample text, or None where generation failed (over the token caps,
    a loop, a prompt too long): the student could not answer."""
    writer = Writer("student", model)
    texts: list[str | None] = []
    for problem in problems:
        for index in range(samples):
            seed = sample_seed(generation.seed, problem.prompt_id, index)
            try:
                sample = await generate_sample(
                    problem.text, GenerationMode.STUDENT_ONLY, None, writer, generation, seed
                )
                texts.append(sample.text)
            except GenerationFailed:
                texts.append(None)
    return texts
