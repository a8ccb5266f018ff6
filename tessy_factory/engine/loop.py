"""The TESSY loop and the baseline modes, producing one sample with its provenance.

TESSY (tessy-method.md): the student starts; the current model continues the shared text
by k tokens; its boundary predictor labels them; the student's turn is cut at the first
capability token, the teacher's at the first style token; a cut switches roles; when the
thinking ends, the student writes the final answer. Each model sees the prompt in its own
chat template; only the generated text is shared, in the student's format.

Each model keeps one KV cache per sample and reads only the text it has not seen, where the
authors' code re-sends the whole prefix every 5-10 tokens. Each sample is a coroutine, so
samples on model servers run concurrently, each at its own pace, rather than in lock-step.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

from tessy_factory.config import GenerationConfig, GenerationMode
from tessy_factory.engine.batching import LabelBatcher
from tessy_factory.engine.cut import cut_index, ends_at_word_start, last_word_start
from tessy_factory.engine.predictor import PredictorWindow
from tessy_factory.engine.repetition import repeated_fragment
from tessy_factory.engine.text_model import (
    ContextOverflow,
    Continuation,
    GenerationFailed,
    StopHint,
    TextModel,
    check_fits,
)
from tessy_factory.trace_format import THINK_CLOSE, THINK_OPEN


@dataclass(frozen=True)
class Writer:
    """One role in the loop: its model (with its chunk size) and its boundary predictor."""

    role: str
    model: TextModel
    predictor: LabelBatcher | None = None


@dataclass(frozen=True)
class Span:
    """A turn of one author: its text, its tokens in that author's tokenizer, and where the
    boundary predictor cut its last chunk (None when the turn ended with the thinking)."""

    author: str
    text: str
    tokens: int
    phase: str
    cut: int | None = None


@dataclass
class Sample:
    """A generated sample in the student's format with who wrote what."""

    text: str = ""
    spans: list[Span] = field(default_factory=list)
    n_switches: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def tokens_by(self, author: str) -> int:
        return sum(span.tokens for span in self.spans if span.author == author)

    def spans_json(self) -> list[dict]:
        return [asdict(span) for span in self.spans]


class _Trace:
    """The shared text being written, with its spans and per-model timing."""

    def __init__(self, prompt: str, seed: int) -> None:
        self.prompt = prompt
        self.seed = seed
        self.calls = 0
        self.sample = Sample()
        self.thinking = THINK_OPEN
        self.tokens = 0
        self.caches: dict[str, object | None] = {}
        self.prompts: dict[str, str] = {}
        self.windows: dict[str, PredictorWindow | None] = {}
        # The token pieces of each span, to trim the end-of-thinking marker off the spans.
        self.span_pieces: list[list[str]] = []

    async def continue_as(
        self,
        writer: Writer,
        thinking: str,
        max_new_tokens: int,
        stop: StopHint | None = None,
        answering: bool = False,
    ) -> Continuation:
        """`writer` continues the shared `thinking` (student format, opened by <think>) in
        its own format: its chat template, its thinking markers, and after its end of
        thinking when `answering`. It reuses its cache of this sample, so it only reads
        what it has not seen."""
        if writer.role not in self.caches:
            self.caches[writer.role] = writer.model.new_cache()
            # Rendered once per sample: a chat template is a Jinja render, at every turn.
            self.prompts[writer.role] = writer.model.prompt_text(self.prompt)
        config = writer.model.config
        prefix = (
            self.prompts[writer.role]
            + config.thinking_open
            + thinking.removeprefix(THINK_OPEN)
            + (config.thinking_close if answering else "")
        )
        # A seed per call, so a sample does not depend on what ran between its turns.
        self.calls += 1
        seed = (self.seed * 1_000_003 + self.calls) % 2**31
        cache = self.caches[writer.role]
        try:
            return await writer.model.complete(prefix, max_new_tokens, cache, seed, stop)
        except ContextOverflow as overflow:
            if self.tokens == 0 and not answering:
                raise  # the prompt alone: a server's context shorter than its config says
            # The prompt was checked to fit with the caps, but the other model's words can
            # take more of this model's tokens than they took of their author's.
            raise GenerationFailed(
                f"the sample outgrew the context mid-sample: {overflow.detail}"
            ) from overflow

    def window(self, writer: Writer) -> PredictorWindow | None:
        """`writer`'s boundary-predictor window of this sample."""
        if writer.role not in self.windows:
            self.windows[writer.role] = writer.predictor.predictor.new_window()
        return self.windows[writer.role]

    def add(self, writer: Writer, pieces: list[str], phase: str, cut: int | None = None) -> None:
        text = "".join(pieces)
        if not text:
            return
        self.thinking += text
        self.tokens += len(pieces)
        spans = self.sample.spans
        if spans and spans[-1].author == writer.role and spans[-1].phase == phase:
            # One span per turn: chunks of the same author join, the last chunk's cut ends it.
            spans.pop()
            pieces = self.span_pieces.pop() + pieces
        spans.append(Span(writer.role, "".join(pieces), len(pieces), phase, cut))
        self.span_pieces.append(pieces)

    def close_thinking(self, markers: list[str]) -> str:
        """The thinking in the student's format: <think> and the text before the first
        end-of-thinking marker, without the whitespace before the marker. The spans are
        trimmed to it, so they join back into it and count no token of the marker: the
        marker is format, not words of their authors."""
        before = _thinking_before_marker(self.thinking, markers)
        head = THINK_OPEN + before.removeprefix(THINK_OPEN).rstrip()
        self._trim_spans(len(head) - len(THINK_OPEN))
        return head

    def _trim_spans(self, length: int) -> None:
        """Keep the spans' first `length` characters; a token the cut splits is kept."""
        spans, start = self.sample.spans, 0
        for index, (span, pieces) in enumerate(zip(spans, self.span_pieces, strict=True)):
            if start + len(span.text) >= length:
                kept = _first_chars(pieces, length - start)
                if kept:
                    spans[index] = replace(span, text="".join(kept), tokens=len(kept))
                    self.span_pieces[index] = kept
                # A span of nothing but the marker (or the whitespace before it) goes, and
                # its cut with it, so each switch stays the cut of a span.
                first_gone = index + 1 if kept else index
                self.sample.n_switches -= sum(gone.cut is not None for gone in spans[first_gone:])
                del spans[first_gone:], self.span_pieces[first_gone:]
                return
            start += len(span.text)

    def timed(self, writer: Writer, started: float) -> None:
        seconds = self.sample.seconds
        seconds[writer.role] = seconds.get(writer.role, 0.0) + time.perf_counter() - started


# Who thinks alone in each solo mode, and who writes each mode's final answer.
_SOLO_THINKER = {
    GenerationMode.TEACHER_ONLY: "teacher",
    GenerationMode.TEACHER_THINK: "teacher",
    GenerationMode.STUDENT_ONLY: "student",
    GenerationMode.TEACHER_ANSWER: "student",
}
_ANSWERER = {
    GenerationMode.TEACHER_ONLY: "teacher",
    GenerationMode.TEACHER_THINK: "student",
    GenerationMode.STUDENT_ONLY: "student",
    GenerationMode.TEACHER_ANSWER: "teacher",
}


async def generate_sample(
    prompt: str,
    mode: GenerationMode,
    teacher: Writer | None,
    student: Writer | None,
    config: GenerationConfig,
    seed: int = 0,
) -> Sample:
    """One sample for `prompt` in `mode`; raises GenerationFailed with the reason."""
    writers = {"teacher": teacher, "student": student}
    if mode is GenerationMode.TESSY:
        thinkers, answerer = [teacher, student], writers[config.tessy_answer_by]
    else:
        thinkers, answerer = [writers[_SOLO_THINKER[mode]]], writers[_ANSWERER[mode]]
    _check_prompt_fits(prompt, thinkers, answerer, config)
    trace = _Trace(prompt, seed)
    written = None
    if mode is GenerationMode.TESSY:
        await _cooperative_thinking(trace, teacher, student, config)
    else:
        written = await _solo_thinking(trace, thinkers[0], config, thinkers[0] is answerer)
    head = trace.close_thinking(config.end_of_thinking)
    await _final_answer(trace, answerer, head, config, written)
    return trace.sample


def _check_prompt_fits(
    prompt: str, thinkers: list[Writer], answerer: Writer, config: GenerationConfig
) -> None:
    """Raise ContextOverflow, before anything is generated, when a model could not fit the
    prompt with a thinking of `max_total_tokens` (every model reads all of it) and, for the
    answerer, an answer of `answer_max_tokens`: the prompt is skipped as too long."""
    for writer in {writer.role: writer for writer in [*thinkers, answerer]}.values():
        model, answers = writer.model, writer is answerer
        text = model.prompt_text(prompt) + model.config.thinking_open
        new_tokens = config.max_total_tokens
        if answers:
            text += model.config.thinking_close
            new_tokens += config.answer_max_tokens
        check_fits(model.name, model.config, model.count_tokens(text), new_tokens)


async def generate_thinking(
    prompt: str, writer: Writer, config: GenerationConfig, seed: int = 0
) -> str:
    """`writer`'s thinking alone for `prompt`, without its markers: the traces a boundary
    predictor learns from. Raises GenerationFailed with the reason."""
    trace = _Trace(prompt, seed)
    await _solo_thinking(trace, writer, config)
    thinking = _thinking_before_marker(trace.thinking, config.end_of_thinking)
    return thinking.removeprefix(THINK_OPEN).strip()


async def _cooperative_thinking(
    trace: _Trace, teacher: Writer, student: Writer, config: GenerationConfig
) -> None:
    current, other = student, teacher
    while trace.tokens < config.max_total_tokens:
        started = time.perf_counter()
        window = trace.window(current)
        turn_over = _TurnOver(
            trace.thinking, config.end_of_thinking, (current.predictor, window), current is teacher
        )
        # The last turn may be shorter than k, so no sample thinks past the cap.
        chunk = min(current.model.config.chunk_tokens, config.max_total_tokens - trace.tokens)
        continuation = await trace.continue_as(current, trace.thinking, chunk, turn_over)
        pieces, closed = _until_close(continuation.pieces, trace.thinking, config.end_of_thinking)
        if not pieces:
            raise GenerationFailed(f"{current.role} returned an empty completion")
        cut = (
            None
            if turn_over.known_uncut(pieces)
            else cut_index(
                pieces,
                await current.predictor.label(trace.thinking, "".join(pieces), window),
                cut_at_style=current is teacher,
            )
        )
        if continuation.ended and not closed and cut is None:
            # An end of turn the cut does not discard leaves the thinking unclosed.
            raise GenerationFailed(f"{current.role} ended its turn inside the thinking block")
        trace.add(current, pieces[:cut] if cut else pieces, "thinking", cut)
        trace.timed(current, started)
        _refuse_loops(trace, config)
        if cut:
            trace.sample.n_switches += 1
            current, other = other, current
        elif closed:
            return
    raise GenerationFailed(f"thinking did not end within {config.max_total_tokens} tokens")


class _TurnOver:
    """Whether a turn's pieces so far already end it (a `StopHint`): the thinking closed, or
    the cut falls inside them, so anything written after them would be thrown away."""

    def __init__(
        self,
        thinking: str,
        markers: list[str],
        labeller: tuple[LabelBatcher, PredictorWindow | None] | None = None,
        cut_at_style: bool = False,
    ) -> None:
        self.thinking = thinking
        self.markers = markers
        self.labeller = labeller
        self.cut_at_style = cut_at_style
        # Asked after every token: only the text that came since the last call is searched
        # for a marker, with enough text before it to hold one begun earlier.
        self.longest = max(map(len, markers))
        self.searched = 0
        self.tail = thinking[-self.longest :]
        # The longest run of pieces whose labels were checked and held no cut.
        self.checked_uncut = 0

    def __call__(self, pieces: list[str]) -> bool:
        window = self.tail + "".join(pieces[self.searched :])
        if any(marker in window for marker in self.markers):
            return True
        self.searched, self.tail = len(pieces), window[-self.longest :]
        # Labels of part of a chunk are the whole chunk's only for a causal predictor, and
        # a new cut can only fall before a word that has just begun.
        if self.labeller is None or not ends_at_word_start(pieces):
            return False
        labeller, window = self.labeller
        if not labeller.predictor.causal:
            return False
        labels = labeller.label_now(self.thinking, "".join(pieces), window)
        if cut_index(pieces, labels, cut_at_style=self.cut_at_style) is not None:
            return True
        self.checked_uncut = len(pieces)
        return False

    def known_uncut(self, pieces: list[str]) -> bool:
        """Whether `pieces` are known to hold no cut without labelling them again: they
        have no place a cut can fall, or the run up to the last one was checked (with a
        causal predictor, what follows it cannot move a cut before it)."""
        last = last_word_start(pieces)
        return last is None or self.checked_uncut == last + 1


def _written_answer(written: list[str], markers: list[str]) -> tuple[list[str], int]:
    """The answer in `written`, what followed the close in the thinking's request, and how
    many tokens the answer's cap counts: not the whitespace after the close, which is
    format, as the marker is (an answer asked for apart follows `thinking_close`, which
    holds it, and counts no token of it)."""
    begun = written[_leading_blank(written) :]
    pieces = _after_last_close(begun, markers)
    return pieces[_leading_blank(pieces) :], len(begun)


def _leading_blank(pieces: list[str]) -> int:
    """How many pieces at the head of `pieces` hold only whitespace."""
    count = 0
    while count < len(pieces) and not pieces[count].strip():
        count += 1
    return count


async def _solo_thinking(
    trace: _Trace, writer: Writer, config: GenerationConfig, answers: bool = False
) -> Continuation | None:
    """`writer` thinks alone, in one request. When it `answers` too, the same request goes
    on through its answer, which is returned (what followed the close of the thinking,
    beginning with the text after the marker in the token that completed it): one
    round trip a sample, where asking for the answer apart cost a second one on a server,
    whose request ran on through an answer all the same, thrown away."""
    started = time.perf_counter()
    if answers:
        budget = config.max_total_tokens + config.answer_max_tokens
        stop: StopHint = _AnswerOver(trace.thinking, config)
    else:
        budget = config.max_total_tokens
        stop = _TurnOver(trace.thinking, config.end_of_thinking)
    continuation = await trace.continue_as(writer, trace.thinking, budget, stop)
    pieces, closed = _until_close(continuation.pieces, trace.thinking, config.end_of_thinking)
    over_cap = len(pieces) > config.max_total_tokens
    if over_cap:
        # Closed past the cap, in a request with room for the answer: judged as if the
        # request had stopped at the cap, as a local model does (see `_AnswerOver`), so
        # its end of turn, after the cap, is not the reason.
        pieces, closed = pieces[: config.max_total_tokens], False
    lead = _after_marker(pieces, trace.thinking, config.end_of_thinking) if closed else ""
    trace.add(writer, pieces, "thinking")
    trace.timed(writer, started)
    _refuse_loops(trace, config)
    if continuation.ended and not closed and not over_cap:
        raise GenerationFailed(f"{writer.role} ended its turn inside the thinking block")
    if not closed:
        raise GenerationFailed(f"thinking did not end within {config.max_total_tokens} tokens")
    if not answers:
        return None
    # The token that completed the close is judged with the thinking against its cap, but
    # the spans count it once, with the answer: the marker is format, counted in no span,
    # and what follows it in that token is the answer's first text.
    rest = continuation.pieces[len(pieces) :]
    return Continuation(([lead] if lead else []) + rest, continuation.ended)


class _AnswerOver:
    """The `StopHint` of a solo thinker that answers in the same request: the rest would
    be thrown away once the thinking is `max_total_tokens` long and still open, or the
    answer is past `answer_max_tokens`; the sample fails either way."""

    def __init__(self, thinking: str, config: GenerationConfig) -> None:
        self.thinking = thinking
        self.closes = _TurnOver(thinking, config.end_of_thinking)
        self.config = config
        self.closed_at: int | None = None  # pieces up to the one that closed the thinking
        self.lead = ""  # the text after the marker in that one
        self.blank: int | None = None  # whitespace tokens after the close, once known

    def __call__(self, pieces: list[str]) -> bool:
        markers = self.config.end_of_thinking
        if self.closed_at is None:
            if not self.closes(pieces):
                return len(pieces) >= self.config.max_total_tokens
            head, _ = _until_close(pieces, self.thinking, markers)
            self.closed_at, self.lead = len(head), _after_marker(head, self.thinking, markers)
        if self.blank is None:
            # Asked after every token: the whitespace after the close is looked at only
            # until the answer begins, when the count of it is settled.
            written = ([self.lead] if self.lead else []) + pieces[self.closed_at :]
            blank = _leading_blank(written)
            if blank == len(written):
                return False
            self.blank = blank
        # The answer's cap counts as `_written_answer` does.
        written_tokens = len(pieces) - self.closed_at + (1 if self.lead else 0)
        return written_tokens - self.blank > self.config.answer_max_tokens


def _until_close(pieces: list[str], before: str, markers: list[str]) -> tuple[list[str], bool]:
    """The pieces up to and including the one that completes an end-of-thinking marker."""
    # A marker of several tokens may have begun in the text before this chunk.
    text = before[-max(map(len, markers)) :]
    for index, piece in enumerate(pieces):
        text += piece
        if any(marker in text for marker in markers):
            return pieces[: index + 1], True
    return pieces, False


def _after_marker(pieces: list[str], before: str, markers: list[str]) -> str:
    """The text after the end of the earliest end-of-thinking marker in `pieces` (which
    `_until_close` ended with the piece that completes it): the head of the answer."""
    text = before[-max(map(len, markers)) :] + "".join(pieces)
    ends = [text.find(marker) + len(marker) for marker in markers if marker in text]
    return text[min(ends) :]


def _after_last_close(pieces: list[str], markers: list[str]) -> list[str]:
    """The pieces after the last end-of-thinking marker: an answerer that writes more
    thinking of its own before closing it again has begun its answer only after that."""
    while True:
        head, closed = _until_close(pieces, "", markers)
        if not closed:
            return pieces
        pieces = pieces[len(head) :]


def _thinking_before_marker(text: str, markers: list[str]) -> str:
    """The thinking up to the earliest end-of-thinking marker (all of it if none)."""
    positions = [text.find(marker) for marker in markers if marker in text]
    return text[: min(positions)] if positions else text


def _first_chars(pieces: list[str], count: int) -> list[str]:
    """The pieces that hold the first `count` characters of their text, the last one cut."""
    kept = []
    for piece in pieces:
        if count <= 0:
            break
        kept.append(piece[:count])
        count -= len(piece)
    return kept


def _refuse_loops(trace: _Trace, config: GenerationConfig) -> None:
    fragment = repeated_fragment(trace.thinking, config.repetition)
    if fragment is not None:
        raise GenerationFailed(
            f"degenerate repetition: {fragment[:80]!r} {config.repetition.repeats} times in a row"
        )


async def _final_answer(
    trace: _Trace,
    writer: Writer,
    head: str,
    config: GenerationConfig,
    written: Continuation | None = None,
) -> None:
    """`writer` answers after the closed thinking `head` (see `_Trace.close_thinking`), or
    has answered already: `written`, what followed the close in its thinking's request."""
    started = time.perf_counter()
    if written is None:
        continuation = await trace.continue_as(
            writer, head, config.answer_max_tokens, answering=True
        )
        pieces = _after_last_close(continuation.pieces, config.end_of_thinking)
        capped = len(continuation.pieces)
    else:
        continuation = written
        pieces, capped = _written_answer(written.pieces, config.end_of_thinking)
    answer = "".join(pieces).strip()
    if not answer:
        raise GenerationFailed(f"{writer.role} wrote an empty final answer")
    if not continuation.ended or capped > config.answer_max_tokens:
        # Cut off at the cap: a truncated answer is not a sample to train on.
        raise GenerationFailed(
            f"{writer.role}'s answer did not end within {config.answer_max_tokens} tokens"
        )
    trace.sample.spans.append(Span(writer.role, answer, len(pieces), "answer"))
    trace.timed(writer, started)
    # Whatever markers the models use, the output is in the student's format.
    trace.sample.text = f"{head}\n{THINK_CLOSE}\n\n{answer}"
