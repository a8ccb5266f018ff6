"""The output format of every sample, the student's: `<think>\\n...\\n</think>\\n\\nanswer`."""

THINK_OPEN = "<think>\n"
THINK_CLOSE = "</think>"


def thinking_part(text: str) -> str:
    """The thinking of a sample: everything before the first `</think>`."""
    return text.partition(THINK_CLOSE)[0]
