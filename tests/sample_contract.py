"""What every generated sample must look like, whichever backend wrote it."""

from __future__ import annotations

from tessy_factory.config import GenerationConfig, GenerationMode
from tessy_factory.engine.loop import Sample
from tessy_factory.trace_format import THINK_CLOSE, THINK_OPEN


def thinking_and_answer(sample: Sample) -> tuple[str, str]:
    assert sample.text.startswith(THINK_OPEN)
    head, separator, answer = sample.text.partition(f"\n{THINK_CLOSE}\n\n")
    assert separator, sample.text
    return head.removeprefix(THINK_OPEN), answer


# (who thinks, who answers) in each mode but tessy
SOLO_AUTHORS = {
    GenerationMode.TEACHER_ONLY: ("teacher", "teacher"),
    GenerationMode.STUDENT_ONLY: ("student", "student"),
    GenerationMode.TEACHER_THINK: ("teacher", "student"),
    GenerationMode.TEACHER_ANSWER: ("student", "teacher"),
}


def check_sample(
    sample: Sample, mode: GenerationMode, config: GenerationConfig, answered_by: str = "student"
) -> None:
    """`config`: the generation config that wrote the sample; `answered_by`: who writes a
    tessy sample's answer (`tessy_answer_by`)."""
    thinking, answer = thinking_and_answer(sample)
    assert thinking.strip() and answer.strip()
    assert THINK_CLOSE not in answer
    *thinking_spans, answer_span = sample.spans
    assert {span.phase for span in thinking_spans} == {"thinking"}
    assert answer_span.phase == "answer"
    assert answer_span.text == answer
    # The spans account for every character of the text and nothing else: not the marker
    # that ended the thinking, which is format rather than anyone's words.
    assert "".join(span.text for span in thinking_spans) == thinking
    # Token counts: every span wrote something, and both caps hold, over both authors.
    assert all(span.tokens >= 1 for span in sample.spans)
    assert sum(span.tokens for span in thinking_spans) <= config.max_total_tokens
    assert answer_span.tokens <= config.answer_max_tokens
    authors = {span.author for span in sample.spans}
    if mode is GenerationMode.TESSY:
        assert sample.spans[0].author == "student"
        assert answer_span.author == answered_by
        assert sample.n_switches == sum(span.cut is not None for span in sample.spans)
    else:
        thinker, answerer = SOLO_AUTHORS[mode]
        assert {span.author for span in thinking_spans} == {thinker}
        assert answer_span.author == answerer
        assert sample.n_switches == 0
    assert set(sample.seconds) == authors
