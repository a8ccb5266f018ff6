"""Tests of the generation engine: where chunks are cut, the boundary predictors, the local
models and the TESSY loop with its baselines, on the trained miniature models."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import pytest
from sample_contract import check_sample
from transformers import AutoTokenizer, Qwen3Config, Qwen3ForTokenClassification

from tessy_factory.config import GenerationConfig, GenerationMode, ModelConfig, PredictorConfig
from tessy_factory.demo.problems import build_problems
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.cut import cut_index
from tessy_factory.engine.local_model import LocalModel, ModelLoadError
from tessy_factory.engine.loop import Sample, Writer, generate_sample
from tessy_factory.engine.predictor import BoundaryPredictor
from tessy_factory.engine.text_model import GenerationFailed
from tessy_factory.miniature.build import miniature_dir

# --- cut_index: pure, on hand-made token pieces -------------------------------------------

# "Hmm, so" then " read n": the student's style, then capability.
PIECES = ["Hmm", ",", " so", " read", " n", "."]  # starts 0, 3, 4, 7, 12, 14
LABELS = [(3, True), (4, True), (7, False), (12, False), (14, False)]


def test_the_student_is_cut_at_its_first_capability_token() -> None:
    assert cut_index(PIECES, LABELS, cut_at_style=False) == 3


def test_the_teacher_is_cut_at_its_first_style_token() -> None:
    pieces = [" Read", " n", ".", " Next", ":"]  # starts 0, 5, 7, 8, 13
    labels = [(5, False), (7, False), (8, True), (13, True)]
    assert cut_index(pieces, labels, cut_at_style=True) == 3


def test_only_the_first_label_of_the_wanted_kind_counts() -> None:
    labels = [(3, False), (4, True), (7, False)]
    # Capability predicted at "," (inside "Hmm,"): the cut moves on to the next word start.
    assert cut_index(PIECES, labels, cut_at_style=False) == 2


def test_a_cut_inside_a_word_moves_forward_to_the_next_word() -> None:
    pieces = [" Add", " th", "em", " up"]  # starts 0, 4, 7, 9
    assert cut_index(pieces, [(4, True), (7, False)], cut_at_style=False) == 3


def test_a_token_after_whitespace_is_a_word_boundary() -> None:
    pieces = ["x", "code\n", "```"]  # starts 0, 1, 6
    assert cut_index(pieces, [(6, True)], cut_at_style=True) == 2


def test_a_cut_predicted_at_offset_zero_still_keeps_the_first_token() -> None:
    pieces = [" so", " the", " sum"]
    assert cut_index(pieces, [(0, False), (3, False)], cut_at_style=False) == 1


def test_no_label_of_the_wanted_kind_keeps_the_whole_chunk() -> None:
    assert cut_index(PIECES, [(3, True), (4, True)], cut_at_style=False) is None
    assert cut_index(PIECES, [], cut_at_style=True) is None


def test_no_word_boundary_after_the_label_keeps_the_whole_chunk() -> None:
    assert cut_index([" sum", "ming", "s"], [(4, False)], cut_at_style=False) is None


def test_a_single_piece_is_never_cut() -> None:
    assert cut_index([" so"], [(0, False)], cut_at_style=False) is None


# --- models: the trained miniature teacher, student and boundary predictors ---------------

SEED = 0
DEMO_GENERATION = GenerationConfig(
    modes=list(GenerationMode), max_total_tokens=512, answer_max_tokens=128
)


@dataclass(frozen=True)
class Writers:
    teacher: Writer
    student: Writer


@pytest.fixture(scope="module")
def miniature(models_root: Path) -> Path:
    return miniature_dir(models_root)


@pytest.fixture(scope="module")
def writers(miniature: Path) -> Writers:
    def writer(role: str, chunk_tokens: int) -> Writer:
        return Writer(
            role,
            LocalModel(
                role,
                str(miniature / role),
                ModelConfig(model=f"miniature:{role}", chunk_tokens=chunk_tokens),
            ),
            LabelBatcher(
                BoundaryPredictor(
                    role,
                    str(miniature / f"{role}-predictor"),
                    PredictorConfig(model=f"miniature:{role}"),
                ),
                max_batch=8,
            ),
        )

    return Writers(writer("teacher", 10), writer("student", 5))


@pytest.fixture(scope="module")
def prompt() -> str:
    return build_problems(3, 2026)[0].text


def test_a_predictor_with_three_labels_is_refused(miniature: Path, tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(miniature / "teacher-predictor")
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=8,
        num_labels=3,
    )
    Qwen3ForTokenClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match=r"'three-way' has 3 labels.*exactly 2"):
        BoundaryPredictor("three-way", str(tmp_path), PredictorConfig(model=str(tmp_path)))


def test_a_missing_predictor_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "absent")
    with pytest.raises(ModelLoadError) as caught:
        BoundaryPredictor("teacher", path, PredictorConfig(model=path))
    assert "'teacher'" in str(caught.value) and path in str(caught.value)


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "absent")
    with pytest.raises(ModelLoadError) as caught:
        LocalModel("student", path, ModelConfig(model=path))
    assert "'student'" in str(caught.value) and path in str(caught.value)


def test_label_chunk_offsets_lie_inside_the_chunk_in_order(writers: Writers) -> None:
    context = "<think>\nOkay, let's see. Read n and the n integers."
    chunk = " Hmm, Add them all up. Wait, Print the total."
    for writer in (writers.teacher, writers.student):
        labels = writer.predictor.predictor.label_chunk(context, chunk)
        offsets = [offset for offset, _ in labels]
        assert offsets, writer.role
        assert all(0 <= offset < len(chunk) for offset in offsets)
        assert offsets == sorted(set(offsets))
        assert all(isinstance(style, bool) for _, style in labels)


def test_label_chunk_sees_style_after_a_step_and_capability_after_a_connective(
    writers: Writers,
) -> None:
    context = "<think>\nPlan: Read n and the n integers."
    chunk = " Next: Add them all up."
    labels = dict(writers.teacher.predictor.predictor.label_chunk(context, chunk))
    assert labels[chunk.index(" Next")] is True
    assert labels[chunk.index(" Add")] is False


def generate(
    writers: Writers, prompt: str, mode: GenerationMode, seed: int = SEED
) -> Sample | GenerationFailed:
    try:
        return asyncio.run(
            generate_sample(prompt, mode, writers.teacher, writers.student, DEMO_GENERATION, seed)
        )
    except GenerationFailed as failure:
        return failure


@pytest.fixture(scope="module")
def samples(writers: Writers, prompt: str) -> dict[GenerationMode, Sample | GenerationFailed]:
    """One sample per mode for the demo prompt, generated once for the module's tests."""
    return {mode: generate(writers, prompt, mode) for mode in GenerationMode}


@pytest.mark.parametrize("mode", list(GenerationMode), ids=lambda m: m.value)
def test_generate_sample_in_each_mode(samples, mode: GenerationMode) -> None:
    sample = samples[mode]
    assert isinstance(sample, Sample), f"the trained models should manage the demo: {sample}"
    check_sample(sample, mode, DEMO_GENERATION)


def test_tessy_uses_both_authors(samples) -> None:
    sample = samples[GenerationMode.TESSY]
    assert isinstance(sample, Sample), f"the trained models should manage the demo: {sample}"
    assert sample.n_switches >= 1
    assert sample.tokens_by("teacher") > 0 and sample.tokens_by("student") > 0


def test_the_same_seed_gives_the_same_sample(samples, writers: Writers, prompt: str) -> None:
    again = generate(writers, prompt, GenerationMode.TESSY)
    first = samples[GenerationMode.TESSY]
    assert isinstance(again, Sample) and isinstance(first, Sample)
    assert again.text == first.text
    assert again.spans == first.spans
    # And the seed matters: sampling is not greedy.
    other = generate(writers, prompt, GenerationMode.TESSY, seed=SEED + 1)
    assert isinstance(other, Sample)
    assert other.spans != first.spans


def student_with(
    writers: Writers, miniature: Path, model_class: type = LocalModel, **config: object
) -> Writer:
    """The test student with `config` changed (a longer turn, a smaller context), loaded as
    `model_class`."""
    changed = writers.student.model.config.model_copy(update=config)
    model = model_class("student", str(miniature / "student"), changed)
    return Writer("student", model, writers.student.predictor)


def thinking_tokens(sample: Sample) -> int:
    return sum(span.tokens for span in sample.spans if span.phase == "thinking")


def test_no_tessy_sample_thinks_past_the_cap(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    # A student of long turns, so the turn that ends the thinking is several tokens long.
    student = student_with(writers, miniature, chunk_tokens=20)

    def tessy(cap: int) -> Sample:
        config = DEMO_GENERATION.model_copy(update={"max_total_tokens": cap})
        return asyncio.run(
            generate_sample(prompt, GenerationMode.TESSY, writers.teacher, student, config)
        )

    used = thinking_tokens(tessy(DEMO_GENERATION.max_total_tokens))
    # Caps just under the sample's length: its last turn would end the thinking past them
    # unless the turn is cut short at the cap.
    for cap in range(used - 4, used):
        try:
            sample = tessy(cap)
        except GenerationFailed as failure:
            assert str(failure) == f"thinking did not end within {cap} tokens"
        else:
            assert thinking_tokens(sample) <= cap


def test_a_prompt_over_the_context_fails_as_too_long(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    small = student_with(writers, miniature, max_context_tokens=64)
    for mode in (GenerationMode.STUDENT_ONLY, GenerationMode.TESSY):
        with pytest.raises(
            GenerationFailed, match=r"^prompt too long: .*'student'.*64 tokens"
        ) as caught:
            asyncio.run(generate_sample(prompt, mode, writers.teacher, small, DEMO_GENERATION))
        assert not caught.value.retryable  # another attempt cannot make it fit


@pytest.mark.parametrize("mode", [GenerationMode.TESSY, GenerationMode.TEACHER_ONLY])
def test_an_answer_cut_off_at_its_cap_fails_the_attempt(
    writers: Writers, prompt: str, mode: GenerationMode
) -> None:
    config = DEMO_GENERATION.model_copy(update={"answer_max_tokens": 4})
    with pytest.raises(GenerationFailed, match=r"answer did not end within 4 tokens") as caught:
        asyncio.run(generate_sample(prompt, mode, writers.teacher, writers.student, config))
    assert caught.value.retryable  # another seed may answer more briefly


def test_a_solo_model_that_ends_its_turn_inside_the_thinking_is_named(
    writers: Writers, prompt: str
) -> None:
    # Markers that miss the model's own </think>, as a config for another model's format
    # would: the model thinks, answers and ends its turn, and no marker ever came.
    config = DEMO_GENERATION.model_copy(update={"end_of_thinking": ["</reasoning>"]})
    with pytest.raises(GenerationFailed) as caught:
        asyncio.run(
            generate_sample(prompt, GenerationMode.STUDENT_ONLY, None, writers.student, config)
        )
    # Not "did not end within 512 tokens": the model stopped long before the cap.
    assert str(caught.value) == "student ended its turn inside the thinking block"


def test_a_prompt_that_cannot_fit_with_the_caps_is_skipped_before_generating(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    student = writers.student.model
    prompt_tokens = student.count_tokens(student.prompt_text(prompt))
    # Room for the prompt and a few turns, not for a whole thinking and answer.
    small = student_with(writers, miniature, RecordingModel, max_context_tokens=prompt_tokens + 100)
    for mode in (GenerationMode.TESSY, GenerationMode.TEACHER_THINK):
        with pytest.raises(GenerationFailed, match=r"^prompt too long: .*'student'") as caught:
            asyncio.run(generate_sample(prompt, mode, writers.teacher, small, DEMO_GENERATION))
        assert not caught.value.retryable
        assert small.model.prefixes == [], "no model time is spent on a prompt that is skipped"


def test_a_sample_that_outgrows_a_context_mid_sample_is_retryable(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    # The teacher's words take more of the student's tokens than of its own: a context that
    # fits the prompt and max_total_tokens, counted in each author's tokens, can overflow.
    def tessy(student: Writer, cap: int) -> Sample:
        config = DEMO_GENERATION.model_copy(
            update={"max_total_tokens": cap, "tessy_answer_by": "teacher"}
        )
        return asyncio.run(
            generate_sample(prompt, GenerationMode.TESSY, writers.teacher, student, config)
        )

    # The smallest cap the sample ends within (its spans leave out the marker's tokens), so
    # it thinks up to the cap.
    roomy = student_with(writers, miniature, RecordingModel, max_context_tokens=4096)

    def ends_within(cap: int) -> bool:
        try:
            tessy(roomy, cap)
        except GenerationFailed:
            return False
        return True

    spans_hold = thinking_tokens(tessy(roomy, DEMO_GENERATION.max_total_tokens))
    cap = next(cap for cap in range(spans_hold, spans_hold + 10) if ends_within(cap))
    student = roomy.model
    fits = student.count_tokens(student.prompt_text(prompt) + student.config.thinking_open) + cap
    tight = student_with(writers, miniature, RecordingModel, max_context_tokens=fits)
    with pytest.raises(
        GenerationFailed, match=r"outgrew the context mid-sample: .*'student'"
    ) as caught:
        tessy(tight, cap)
    assert caught.value.retryable  # another seed may write a shorter thinking


def test_tessy_answer_by_teacher_is_the_papers_ablation(writers: Writers, prompt: str) -> None:
    config = DEMO_GENERATION.model_copy(update={"tessy_answer_by": "teacher"})
    sample = asyncio.run(
        generate_sample(prompt, GenerationMode.TESSY, writers.teacher, writers.student, config)
    )
    assert sample.spans[0].author == "student"
    assert sample.spans[-1].phase == "answer" and sample.spans[-1].author == "teacher"


def test_the_kv_cache_reads_only_new_text_and_matches_a_full_recompute(
    miniature: Path, prompt: str
) -> None:
    greedy = ModelConfig(model="miniature:teacher", temperature=0.0)
    model = LocalModel("teacher", str(miniature / "teacher"), greedy)
    cache = model.new_cache()
    prefix = model.prompt_text(prompt) + "<think>\nOkay, let's see."
    first = model.continue_text(prefix, 10, cache)
    prefix_ids = model.tokenizer(prefix, add_special_tokens=False)["input_ids"]
    assert cache.ids[: len(prefix_ids)] == prefix_ids
    assert cache.values.get_seq_length() == len(cache.ids) >= len(prefix_ids)

    # Another author's text joins mid-word, so the seam tokenises differently as a whole.
    joined = prefix + first.pieces[0] + "m, Rea" + "d n and the n integers."
    joined_ids = model.tokenizer(joined, add_special_tokens=False)["input_ids"]
    cached = model.continue_text(joined, 10, cache)
    full = model.continue_text(joined, 10)
    assert cached.pieces == full.pieces
    assert cache.ids[: len(joined_ids)] == joined_ids


def test_a_turn_ends_at_any_end_token_of_the_models_generation_config(
    miniature: Path, prompt: str, tmp_path: Path
) -> None:
    greedy = ModelConfig(model="miniature:student", temperature=0.0)
    model = LocalModel("student", str(miniature / "student"), greedy)
    prefix = model.prompt_text(prompt) + "<think>\n"
    cache = model.new_cache()
    free = model.continue_text(prefix, 6, cache)
    assert not free.ended
    written = cache.ids[-5:]  # the cache holds all but the last token written
    # A later token that is not among those before it: listed as an end of turn, as chat
    # models list several (Qwen: <|im_end|> and <|endoftext|>), the turn must end there.
    at = next(i for i in range(1, 5) if written[i] not in written[:i])
    shutil.copytree(miniature / "student", tmp_path / "student")
    generation_config = tmp_path / "student" / "generation_config.json"
    settings = json.loads(generation_config.read_text())
    settings["eos_token_id"] = [model.tokenizer.eos_token_id, written[at]]
    generation_config.write_text(json.dumps(settings))
    ending = LocalModel("student", str(tmp_path / "student"), greedy)
    ended = ending.continue_text(prefix, 6)
    assert ended.ended and ended.pieces == free.pieces[:at]


def test_concurrent_label_requests_run_as_one_batch_with_the_same_labels(
    writers: Writers,
) -> None:
    # Texts of different lengths, so the batch is padded.
    requests = [
        ("<think>\nOkay, let's see.", " Read n and the n integers."),
        ("<think>\nPlan: Read n and the n integers. Next: Add them all up.", " Hmm, Print"),
        ("<think>\n", "Alright, so."),
        ("<think>\nApproach: Read the line. Code:", "\n```python\ns = input()\n```"),
    ]
    batcher = LabelBatcher(writers.student.predictor.predictor, max_batch=8)

    async def all_at_once():
        return await asyncio.gather(*(batcher.label(c, k) for c, k in requests))

    batched = asyncio.run(all_at_once())
    assert (batcher.requests, batcher.batches) == (4, 1)
    alone = [writers.student.predictor.predictor.label_chunk(c, k) for c, k in requests]
    assert batched == alone


def test_a_batch_larger_than_the_limit_is_split() -> None:
    class Recording:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        def label_chunks(self, requests):
            self.sizes.append(len(requests))
            return [[(0, len(chunk) % 2 == 0)] for _, chunk, _ in requests]

    predictor = Recording()
    batcher = LabelBatcher(predictor, max_batch=3)

    async def seven():
        return await asyncio.gather(*(batcher.label("", "x" * n) for n in range(7)))

    assert asyncio.run(seven()) == [[(0, n % 2 == 0)] for n in range(7)]
    assert predictor.sizes == [3, 3, 1]


class WholeTurns(LocalModel):
    """The local model without the early stop: every turn runs to its full chunk."""

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None):
        return await super().complete(prefix, max_new_tokens, cache, seed)


@pytest.mark.parametrize("mode", [GenerationMode.TESSY, GenerationMode.TEACHER_ONLY])
def test_stopping_a_turn_at_its_cut_writes_the_same_samples(
    writers: Writers, miniature: Path, prompt: str, mode: GenerationMode
) -> None:
    whole = {
        role: Writer(
            role,
            WholeTurns(role, str(miniature / role), getattr(writers, role).model.config),
            getattr(writers, role).predictor,
        )
        for role in ("teacher", "student")
    }
    for seed in range(3):
        early = asyncio.run(
            generate_sample(prompt, mode, writers.teacher, writers.student, DEMO_GENERATION, seed)
        )
        late = asyncio.run(
            generate_sample(prompt, mode, whole["teacher"], whole["student"], DEMO_GENERATION, seed)
        )
        assert early.text == late.text
        assert early.spans == late.spans


class RecordingModel(LocalModel):
    """The local model, keeping every prefix it is asked to continue."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.prefixes: list[str] = []

    async def complete(self, prefix, max_new_tokens, cache, seed, stop=None):
        self.prefixes.append(prefix)
        return await super().complete(prefix, max_new_tokens, cache, seed, stop)


def test_each_model_sees_the_thinking_in_its_own_markers(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    # As a GPT-OSS teacher would: its own channel markers, none of the student's.
    gpt_oss_like = ModelConfig(
        model="miniature:teacher",
        chunk_tokens=10,
        thinking_open="<|channel|>analysis<|message|>",
        thinking_close="<|end|><|start|>assistant<|channel|>final<|message|>",
    )
    teacher = Writer(
        "teacher",
        RecordingModel("teacher", str(miniature / "teacher"), gpt_oss_like),
        writers.teacher.predictor,
    )
    config = DEMO_GENERATION.model_copy(update={"tessy_answer_by": "teacher"})
    sample = asyncio.run(
        generate_sample(prompt, GenerationMode.TESSY, teacher, writers.student, config, seed=1)
    )
    opened = teacher.model.prompt_text(prompt) + gpt_oss_like.thinking_open
    assert len(teacher.model.prefixes) >= 2
    assert all(p.startswith(opened) for p in teacher.model.prefixes)
    assert not any("<think>" in p or "</think>" in p for p in teacher.model.prefixes)
    assert teacher.model.prefixes[-1].endswith(gpt_oss_like.thinking_close)
    # The output is in the student's format all the same.
    check_sample(sample, GenerationMode.TESSY, config, answered_by="teacher")


def test_a_solo_thinker_that_answers_answers_in_its_thinkings_request(
    writers: Writers, miniature: Path, prompt: str
) -> None:
    # Asked apart, a served model's answer cost a second round trip, and its thinking's
    # request had run on through an answer all the same.
    teacher = Writer(
        "teacher",
        RecordingModel("teacher", str(miniature / "teacher"), writers.teacher.model.config),
    )
    mode = GenerationMode.TEACHER_ONLY
    sample = asyncio.run(generate_sample(prompt, mode, teacher, None, DEMO_GENERATION, seed=0))
    assert len(teacher.model.prefixes) == 1
    check_sample(sample, mode, DEMO_GENERATION)


def test_only_the_contexts_tail_is_read_and_the_labels_are_the_same(
    writers: Writers, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = writers.teacher.predictor.predictor
    step = "Plan: Read n and the n integers. Hmm, Add them all up. Next: Print the total. "
    # Ordinary words; then code of long tokens (` input().split()))\n` is one), where the
    # first tail tokenised holds too few tokens and must grow.
    for tail in ("", " input().split()))\n" * 300):
        context, chunk = "<think>\n" + step * 200 + tail, " Wait, Read n."
        tail_only = predictor.label_chunk(context, chunk)
        # A tail of one character a token grows many times; one of 10**9 is all the context.
        for chars_per_token in (1, 10**9):
            monkeypatch.setattr(
                "tessy_factory.engine.predictor.TAIL_CHARS_PER_TOKEN", chars_per_token
            )
            assert predictor.label_chunk(context, chunk) == tail_only
        monkeypatch.undo()


def test_a_samples_window_reads_only_new_tokens_and_labels_as_if_read_whole(
    writers: Writers,
) -> None:
    predictor = writers.teacher.predictor.predictor
    limit = predictor.config.context_tokens
    step = "Plan: Read n and the n integers. Hmm, Add them all up. Wait, Print the total.\n"
    text = "<think>\n" + step * 80
    window, shadow = predictor.new_window(), predictor.new_window()
    fed: list[int] = []  # tokens per forward pass
    hook = predictor.model.register_forward_pre_hook(
        lambda _, args, kwargs: fed.append(kwargs["input_ids"].shape[1]), with_kwargs=True
    )
    rng = random.Random(0)
    position, anchors, read, shown = len("<think>\n"), set(), 0, 0
    try:
        while position < len(text) - 40:
            context, chunk = text[:position], text[position : position + rng.randint(5, 40)]
            fed.clear()
            alone = predictor.label_chunks([(context, chunk, window)])[0]
            read += sum(fed)
            # The same window read whole: two requests take the batched path.
            whole = predictor.label_chunks([(context, chunk, shadow), (context, chunk, None)])[0]
            assert alone == whole
            context_shown = bisect_left(window.encoding.starts, len(context) - window.anchor)
            assert context_shown <= 2 * limit
            assert context_shown >= limit or window.anchor == 0
            shown += len(window.ids)
            anchors.add(window.anchor)
            position += rng.randint(1, len(chunk))
    finally:
        hook.remove()
    assert len(anchors) > 2, "the window moved up as the text grew"
    assert read < shown / 5, "most tokens were read once"
