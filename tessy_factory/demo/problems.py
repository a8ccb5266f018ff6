"""The demo problem family: small stdin/stdout programming tasks with known solutions.

Each `TaskKind` is one task (sum of a list, is-prime, ...) with statement paraphrases, a
reference program, plausible buggy programs, the reasoning steps of the solution, an input
generator and a pure-Python oracle. The miniature teacher and student models are trained on
traces of `training_problems`; the demo build asks them `build_problems`. Statements only vary
in surface words ({name}, {thing}), and those vocabularies are split into disjoint training and
held-out halves, so no build statement ever equals a training statement. `probe_problems`
pair a held-out name with a training thing: every template names both, so a probe statement
equals neither a training statement (its name) nor a build statement (its thing), and a
downstream probe evaluates on problems no model and no dataset version has seen.

Everything is kept short and regular because the miniature models must memorise it.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

_NAMES = (
    "Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Iris", "Jack", "Kira", "Leo",
    "Mia", "Nico", "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vik", "Wen", "Zoe",
)  # fmt: skip
_THINGS = (
    "apples", "coins", "stones", "books", "shells", "cards", "marbles", "tickets",
    "pebbles", "stamps", "beads", "leaves", "buttons", "keys", "candles", "ribbons",
)  # fmt: skip
_TRAINING_NAMES, _HELD_OUT_NAMES = _NAMES[:12], _NAMES[12:]
_TRAINING_THINGS, _HELD_OUT_THINGS = _THINGS[:8], _THINGS[8:]

# Short lowercase words, none a palindrome, none longer than five letters.
_WORDS = (
    "red", "cat", "dog", "tree", "fish", "rain", "moon", "bird", "road", "milk",
    "lamp", "frog", "hat", "door", "king", "gold", "sea", "star", "wind", "box",
)  # fmt: skip
_U_WORDS = ("sun", "blue", "cup", "jump", "bus", "duck")
_LONG_WORDS = ("garden", "window", "planet", "rabbit", "silver", "pencil")
_LETTERS = "abdemnorst"
_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59)
_MAX_DRAWS_PER_CASE = 100


@dataclass(frozen=True)
class TaskKind:
    """One task of the family; see the module docstring."""

    name: str
    templates: tuple[str, ...]
    solution: str
    bugs: tuple[str, ...]
    steps: tuple[str, ...]
    make_input: Callable[[random.Random], str]
    solve: Callable[[str], str]


@dataclass(frozen=True)
class DemoProblem:
    """One drawn instance: a filled-in statement and its stdin/stdout test cases."""

    kind: str
    text: str
    cases: tuple[tuple[str, str], ...]
    reference: str


def draw_problem(
    kind: TaskKind,
    rng: random.Random,
    *,
    held_out: bool,
    n_cases: int = 5,
    probe: bool = False,
) -> DemoProblem:
    """Draw one instance of `kind`: held-out instances use the held-out surface vocabulary;
    `probe` instances a held-out name with a training thing (see the module docstring)."""
    if n_cases < 1:
        raise ValueError(f"n_cases must be at least 1, got {n_cases}")
    names = _HELD_OUT_NAMES if held_out or probe else _TRAINING_NAMES
    things = _HELD_OUT_THINGS if held_out and not probe else _TRAINING_THINGS
    template = rng.choice(kind.templates)
    text = template.format(name=rng.choice(names), thing=rng.choice(things))
    return DemoProblem(kind.name, text, _draw_cases(kind, rng, n_cases), kind.solution)


def training_problems(count: int, seed: int) -> list[DemoProblem]:
    """`count` training instances, kinds taken round-robin."""
    return _problems(count, seed, held_out=False)


def build_problems(count: int, seed: int) -> list[DemoProblem]:
    """`count` held-out instances for the demo build, kinds taken round-robin."""
    return _problems(count, seed, held_out=True)


def probe_problems(count: int, seed: int) -> list[DemoProblem]:
    """`count` instances for a downstream probe's evaluation, kinds taken round-robin: no
    statement equals a training or a build statement."""
    return _problems(count, seed, held_out=False, probe=True)


def _problems(count: int, seed: int, *, held_out: bool, probe: bool = False) -> list[DemoProblem]:
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    return [
        draw_problem(TASK_KINDS[index % len(TASK_KINDS)], rng, held_out=held_out, probe=probe)
        for index in range(count)
    ]


def _draw_cases(kind: TaskKind, rng: random.Random, n_cases: int) -> tuple[tuple[str, str], ...]:
    """Distinct inputs whose expected outputs are not all equal (a constant program must fail)."""
    cases: dict[str, str] = {}
    for _ in range(_MAX_DRAWS_PER_CASE * n_cases):
        stdin = kind.make_input(rng)
        if stdin in cases:
            continue
        expected = kind.solve(stdin)
        is_last = len(cases) == n_cases - 1
        if is_last and n_cases > 1 and set(cases.values()) == {expected}:
            continue
        cases[stdin] = expected
        if len(cases) == n_cases:
            return tuple(cases.items())
    raise RuntimeError(f"task kind {kind.name!r} could not produce {n_cases} varied test cases")


def _kind(
    name: str,
    *,
    tasks: tuple[str, str, str],
    io: str,
    output: str,
    solution: str,
    edits: tuple[tuple[str, str], ...],
    steps: tuple[str, ...],
    make_input: Callable[[random.Random], str],
    solve: Callable[[str], str],
) -> TaskKind:
    """Build a kind: each statement is a task sentence plus the input and output sentences;
    each bug is the solution with one fragment replaced, so it keeps the solution's shape."""
    templates = tuple(f"{task} {io} {output}" for task in tasks)
    bugs = tuple(_edit(name, solution, old, new) for old, new in edits)
    return TaskKind(name, templates, solution, bugs, steps, make_input, solve)


def _edit(kind: str, solution: str, old: str, new: str) -> str:
    if solution.count(old) != 1:
        raise ValueError(
            f"bug edit {old!r} of kind {kind!r} must occur exactly once in the solution"
        )
    return solution.replace(old, new)


# Parsing the four input formats and formatting the answer, for the oracles.


def _format(value: object) -> str:
    if isinstance(value, list | tuple):
        return " ".join(map(str, value)) + "\n"
    return f"{value}\n"


def _on_list(compute: Callable[[list[int]], object]) -> Callable[[str], str]:
    return lambda stdin: _format(compute([int(token) for token in stdin.split("\n")[1].split()]))


def _on_text(compute: Callable[[str], object]) -> Callable[[str], str]:
    return lambda stdin: _format(compute(stdin.rstrip("\n")))


def _on_pair(compute: Callable[[int, int], object]) -> Callable[[str], str]:
    def solve(stdin: str) -> str:
        a, b = map(int, stdin.split())
        return _format(compute(a, b))

    return solve


def _on_number(compute: Callable[[int], object]) -> Callable[[str], str]:
    return lambda stdin: _format(compute(int(stdin)))


def _fibonacci(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))


# Input generators. Each is shaped so that every bug of its kinds fails on almost every input.


def _list_input(values: list[int]) -> str:
    return f"{len(values)}\n{' '.join(map(str, values))}\n"


def _small_list(rng: random.Random) -> str:
    return _list_input([rng.randint(1, 20) for _ in range(rng.randint(3, 6))])


def _distinct_list(rng: random.Random) -> str:
    values = rng.sample(range(1, 31), rng.randint(4, 7))
    if values == sorted(values):  # an already sorted list would hide a missing sort
        values.reverse()
    return _list_input(values)


def _odd_length_list(rng: random.Random) -> str:
    # An odd length makes the counts of evens and odds differ.
    return _list_input([rng.randint(1, 20) for _ in range(rng.choice((3, 5, 7)))])


def _factor_list(rng: random.Random) -> str:
    return _list_input([rng.randint(2, 9) for _ in range(rng.randint(3, 5))])


def _repeating_list(rng: random.Random) -> str:
    # Six or more values from 1..5 always repeat one.
    return _list_input([rng.randint(1, 5) for _ in range(rng.randint(6, 8))])


def _text_line(rng: random.Random) -> str:
    return " ".join(rng.sample(_WORDS, rng.randint(2, 4))) + "\n"


def _text_with_u(rng: random.Random) -> str:
    words = [rng.choice(_U_WORDS), *rng.sample(_WORDS, rng.randint(1, 3))]
    rng.shuffle(words)
    return " ".join(words) + "\n"


def _text_with_longest(rng: random.Random) -> str:
    words = [rng.choice(_LONG_WORDS), *rng.sample(_WORDS, rng.randint(1, 3))]
    rng.shuffle(words)
    return " ".join(words) + "\n"


def _palindrome_candidate(rng: random.Random) -> str:
    if rng.random() < 0.5:
        half = "".join(rng.choices(_LETTERS, k=rng.randint(1, 3)))
        middle = rng.choice(("", *_LETTERS))
        return f"{half}{middle}{half[::-1]}\n"
    # Equal first and last letters around distinct inner letters: never a palindrome, and
    # comparing only the ends is not enough.
    end = rng.choice(_LETTERS)
    inner = "".join(rng.sample(_LETTERS, rng.randint(2, 3)))
    return f"{end}{inner}{end}\n"


def _coprime_multiples(rng: random.Random) -> str:
    factor = rng.randint(2, 6)
    x, y = rng.sample(range(2, 8), 2)
    while math.gcd(x, y) != 1:
        x, y = rng.sample(range(2, 8), 2)
    return f"{factor * x} {factor * y}\n"


def _distinct_pair(rng: random.Random) -> str:
    low, high = sorted(rng.sample(range(1, 51), 2))
    return f"{low} {high}\n" if rng.random() < 0.75 else f"{high} {low}\n"


def _power_pair(rng: random.Random) -> str:
    pairs = [(a, b) for a in range(2, 7) for b in range(2, 5) if a != b and {a, b} != {2, 4}]
    a, b = rng.choice(pairs)
    return f"{a} {b}\n"


def _division_pair(rng: random.Random) -> str:
    a, b = rng.randint(10, 99), rng.randint(2, 9)
    while a // b == a % b:
        a, b = rng.randint(10, 99), rng.randint(2, 9)
    return f"{a} {b}\n"


def _increasing_pair(rng: random.Random) -> str:
    a = rng.randint(1, 10)
    return f"{a} {a + rng.randint(1, 10)}\n"


def _number_in(low: int, high: int) -> Callable[[random.Random], str]:
    return lambda rng: f"{rng.randint(low, high)}\n"


def _prime_candidate(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{rng.choice(_PRIMES)}\n"
    return f"{rng.choice([n for n in range(4, 61) if not _is_prime(n)])}\n"


_LIST_IN = "The first line holds n and the second line holds n integers."
_TEXT_IN = "The input is one line of lowercase words separated by spaces."
_WORD_IN = "The input is one lowercase word."
_PAIR_IN = "The input is two integers a and b on one line."
_NUMBER_IN = "The input is one integer n."

_READ_LIST = "n = int(input())\na = list(map(int, input().split()))\n"
_READ_TEXT = "s = input()\n"
_READ_PAIR = "a, b = map(int, input().split())\n"
_READ_NUMBER = "n = int(input())\n"
_READ_LIST_STEP = "Read n and the n integers."

_LIST_KINDS = (
    _kind(
        "sum-list",
        tasks=(
            "{name} has n {thing} with integer weights and wants the sum of all the weights.",
            "Help {name} find the sum of n integers written on {thing}.",
            "{name} lists the prices of n {thing}; compute the sum of the prices.",
        ),
        io=_LIST_IN,
        output="Print the sum.",
        solution=_READ_LIST + "print(sum(a))\n",
        edits=(("sum(a)", "sum(a[1:])"), ("sum(a)", "sum(a[:-1])")),
        steps=(_READ_LIST_STEP, "Add them all up.", "Print the total."),
        make_input=_small_list,
        solve=_on_list(sum),
    ),
    _kind(
        "max-list",
        tasks=(
            "{name} has n {thing} with different integer weights. Find the largest weight.",
            "Help {name} find the maximum of n integers written on {thing}.",
            "{name} wants the largest of n distinct integers, one on each of the {thing}.",
        ),
        io=_LIST_IN,
        output="Print the maximum.",
        solution=_READ_LIST + "print(max(a))\n",
        edits=(("max(a)", "min(a)"), ("max(a)", "sorted(a)[-2]")),
        steps=(_READ_LIST_STEP, "Take the largest one with max.", "Print it."),
        make_input=_distinct_list,
        solve=_on_list(max),
    ),
    _kind(
        "min-list",
        tasks=(
            "{name} has n {thing} with different integer weights. Find the smallest weight.",
            "Help {name} find the minimum of n integers written on {thing}.",
            "{name} wants the smallest of n distinct integers, one on each of the {thing}.",
        ),
        io=_LIST_IN,
        output="Print the minimum.",
        solution=_READ_LIST + "print(min(a))\n",
        edits=(("min(a)", "max(a)"), ("min(a)", "sorted(a)[1]")),
        steps=(_READ_LIST_STEP, "Take the smallest one with min.", "Print it."),
        make_input=_distinct_list,
        solve=_on_list(min),
    ),
    _kind(
        "count-even",
        tasks=(
            "{name} has n {thing} with integer labels. Count how many labels are even.",
            "Help {name} count the even numbers among n integers written on {thing}.",
            "{name} wants to know how many of n integers on the {thing} are even.",
        ),
        io=_LIST_IN,
        output="Print the count of even numbers.",
        solution=_READ_LIST + "print(sum(1 for x in a if x % 2 == 0))\n",
        edits=(("x % 2 == 0", "x % 2 == 1"), ("sum(1 for x", "sum(x for x")),
        steps=(_READ_LIST_STEP, "Count the ones with x % 2 == 0.", "Print the count."),
        make_input=_odd_length_list,
        solve=_on_list(lambda a: sum(x % 2 == 0 for x in a)),
    ),
    _kind(
        "product-list",
        tasks=(
            "{name} has n {thing} with integer sizes. Find the product of all the sizes.",
            "Help {name} multiply together n integers written on {thing}.",
            "{name} wants the product of n integers, one on each of the {thing}.",
        ),
        io=_LIST_IN,
        output="Print the product.",
        solution="import math\n" + _READ_LIST + "print(math.prod(a))\n",
        edits=(("prod(a)", "prod(a[1:])"), ("math.prod(a)", "sum(a)")),
        steps=(_READ_LIST_STEP, "Multiply them with math.prod.", "Print the product."),
        make_input=_factor_list,
        solve=_on_list(math.prod),
    ),
    _kind(
        "sort-ascending",
        tasks=(
            "{name} wants to sort n {thing} by their integer weights in ascending order.",
            "Help {name} sort n distinct integers written on {thing} from smallest to largest.",
            "{name} has n {thing} with integer labels; list the labels in ascending order.",
        ),
        io=_LIST_IN,
        output="Print the sorted numbers on one line, separated by spaces.",
        solution=_READ_LIST + "print(*sorted(a))\n",
        edits=(("*sorted(a)", "*a"), ("sorted(a)", "sorted(a, reverse=True)")),
        steps=(_READ_LIST_STEP, "Sort them in ascending order.", "Print them with spaces."),
        make_input=_distinct_list,
        solve=_on_list(sorted),
    ),
    _kind(
        "second-largest",
        tasks=(
            "{name} has n {thing} with different integer weights. Find the second largest weight.",
            "Help {name} find the second largest of n distinct integers written on {thing}.",
            "{name} ranks n {thing} by distinct integer scores; report the second largest score.",
        ),
        io=_LIST_IN,
        output="Print the second largest number.",
        solution=_READ_LIST + "print(sorted(a)[-2])\n",
        edits=(("[-2]", "[-1]"), ("[-2]", "[1]")),
        steps=(_READ_LIST_STEP, "Sort them in ascending order.", "Print the element at [-2]."),
        make_input=_distinct_list,
        solve=_on_list(lambda a: sorted(a)[-2]),
    ),
    _kind(
        "count-distinct",
        tasks=(
            "{name} has n {thing} with integer codes. Count how many different codes there are.",
            "Help {name} count the distinct values among n integers written on {thing}.",
            "{name} wants the number of different integers among n labels on the {thing}.",
        ),
        io=_LIST_IN,
        output="Print the number of distinct values.",
        solution=_READ_LIST + "print(len(set(a)))\n",
        edits=(
            ("len(set(a))", "len(a)"),
            ("len(set(a))", "sum(1 for x in a if a.count(x) == 1)"),
        ),
        steps=(_READ_LIST_STEP, "Put them in a set to drop repeats.", "Print the set's size."),
        make_input=_repeating_list,
        solve=_on_list(lambda a: len(set(a))),
    ),
    _kind(
        "prefix-sums",
        tasks=(
            "{name} piles up n {thing} one by one and wants the running total weight after each.",
            "Help {name} compute the prefix sums of n integers written on {thing}.",
            "{name} wants the running sums of n integers, one on each of the {thing}.",
        ),
        io=_LIST_IN,
        output="Print the n running sums on one line, separated by spaces.",
        solution="import itertools\n" + _READ_LIST + "print(*itertools.accumulate(a))\n",
        edits=(
            ("accumulate(a)", "accumulate(a[:-1])"),
            ("accumulate(a)", "accumulate(sorted(a))"),
        ),
        steps=(_READ_LIST_STEP, "Accumulate the running sums.", "Print them with spaces."),
        make_input=_distinct_list,
        solve=_on_list(lambda a: list(itertools.accumulate(a))),
    ),
    _kind(
        "max-minus-min",
        tasks=(
            "{name} has n {thing} with integer weights. Find the largest minus the smallest.",
            "Help {name} compute the maximum minus the minimum of n integers written on {thing}.",
            "{name} wants the gap between the biggest and smallest of n integers on the {thing}.",
        ),
        io=_LIST_IN,
        output="Print that difference.",
        solution=_READ_LIST + "print(max(a) - min(a))\n",
        edits=(("max(a) - min(a)", "max(a) + min(a)"), ("max(a) - min(a)", "max(a) - min(a) + 1")),
        steps=(_READ_LIST_STEP, "Subtract the minimum from the maximum.", "Print the difference."),
        make_input=_distinct_list,
        solve=_on_list(lambda a: max(a) - min(a)),
    ),
)

_TEXT_KINDS = (
    _kind(
        "reverse-text",
        tasks=(
            "{name} wrote a note about {thing} and wants it reversed character by character.",
            "Help {name} reverse a line of text about {thing}, last character first.",
            "{name} wants to read a sentence about {thing} backwards, letter by letter.",
        ),
        io=_TEXT_IN,
        output="Print the reversed line.",
        solution=_READ_TEXT + "print(s[::-1])\n",
        edits=(("s[::-1]", "s"), ("s[::-1]", '" ".join(s.split()[::-1])')),
        steps=("Read the line.", "Reverse it with s[::-1].", "Print the result."),
        make_input=_text_line,
        solve=_on_text(lambda s: s[::-1]),
    ),
    _kind(
        "count-vowels",
        tasks=(
            "{name} wrote a note about {thing}. Count the vowels a, e, i, o, u in it.",
            "Help {name} count how many vowels are in a line of text about {thing}.",
            "{name} wants the number of vowel letters in a sentence about {thing}.",
        ),
        io=_TEXT_IN,
        output="Print the number of vowels.",
        solution=_READ_TEXT + 'print(sum(1 for c in s if c in "aeiou"))\n',
        edits=(('"aeiou"', '"aeio"'), ('c in "aeiou"', 'c not in "aeiou"')),
        steps=("Read the line.", "Count the letters that are in aeiou.", "Print the count."),
        make_input=_text_with_u,
        solve=_on_text(lambda s: sum(c in "aeiou" for c in s)),
    ),
    _kind(
        "is-palindrome",
        tasks=(
            "{name} labels {thing} with words. Decide whether a word is a palindrome.",
            "Help {name} check if a word written on the {thing} is a palindrome.",
            "{name} wants to know whether a word about {thing} reads the same backwards.",
        ),
        io=_WORD_IN,
        output="Print YES if it is a palindrome and NO otherwise.",
        solution=_READ_TEXT + 'print("YES" if s == s[::-1] else "NO")\n',
        edits=(
            ("s == s[::-1]", "s[0] == s[-1]"),
            ('"YES" if s == s[::-1] else "NO"', '"NO" if s == s[::-1] else "YES"'),
        ),
        steps=("Read the word.", "Compare it with its reverse.", "Print YES or NO."),
        make_input=_palindrome_candidate,
        solve=_on_text(lambda s: "YES" if s == s[::-1] else "NO"),
    ),
    _kind(
        "count-words",
        tasks=(
            "{name} wrote a note about {thing}. Count the words in it.",
            "Help {name} count how many words are in a line of text about {thing}.",
            "{name} wants the number of words in a sentence about {thing}.",
        ),
        io=_TEXT_IN,
        output="Print the number of words.",
        solution=_READ_TEXT + "print(len(s.split()))\n",
        edits=(("len(s.split())", 's.count(" ")'), ("len(s.split())", "len(s)")),
        steps=("Read the line.", "Split it into words.", "Print how many there are."),
        make_input=_text_line,
        solve=_on_text(lambda s: len(s.split())),
    ),
    _kind(
        "uppercase",
        tasks=(
            "{name} wrote a note about {thing} and wants it in capital letters.",
            "Help {name} convert a line of text about {thing} to uppercase.",
            "{name} wants a sentence about {thing} with every letter made uppercase.",
        ),
        io=_TEXT_IN,
        output="Print the line in uppercase.",
        solution=_READ_TEXT + "print(s.upper())\n",
        edits=(("upper", "title"), ("upper", "capitalize")),
        steps=("Read the line.", "Convert it with upper.", "Print the result."),
        make_input=_text_line,
        solve=_on_text(str.upper),
    ),
    _kind(
        "longest-word",
        tasks=(
            "{name} wrote a note about {thing}. Find the longest word in it.",
            "Help {name} find the longest word in a line of text about {thing}.",
            "{name} wants the word with the most letters in a sentence about {thing}.",
        ),
        io=_TEXT_IN,
        output="Print the longest word, which is unique.",
        solution=_READ_TEXT + "print(max(s.split(), key=len))\n",
        edits=(
            ("max(", "min("),
            ("print(max(s.split(), key=len))", "print(len(max(s.split(), key=len)))"),
        ),
        steps=("Read the line.", "Split it into words.", "Print the word of greatest length."),
        make_input=_text_with_longest,
        solve=_on_text(lambda s: max(s.split(), key=len)),
    ),
    _kind(
        "line-length",
        tasks=(
            "{name} wrote a note about {thing}. Count its characters, spaces included.",
            "Help {name} find the length of a line of text about {thing}, counting spaces.",
            "{name} wants the number of characters, including spaces, in a sentence about {thing}.",
        ),
        io=_TEXT_IN,
        output="Print the length.",
        solution=_READ_TEXT + "print(len(s))\n",
        edits=(("len(s)", "len(s.split())"), ("len(s)", 'len(s.replace(" ", ""))')),
        steps=("Read the line.", "Take its length with len.", "Print the length."),
        make_input=_text_line,
        solve=_on_text(len),
    ),
)

_PAIR_KINDS = (
    _kind(
        "gcd",
        tasks=(
            "{name} packs {thing} into equal boxes. Find the greatest common divisor of a and b.",
            "Help {name} compute the greatest common divisor of two counts of {thing}, a and b.",
            "{name} wants the gcd, the largest number dividing both a and b, for piles of {thing}.",
        ),
        io=_PAIR_IN,
        output="Print the gcd.",
        solution="import math\n" + _READ_PAIR + "print(math.gcd(a, b))\n",
        edits=(("math.gcd(a, b)", "min(a, b)"), ("gcd", "lcm")),
        steps=("Read a and b.", "Compute math.gcd(a, b).", "Print it."),
        make_input=_coprime_multiples,
        solve=_on_pair(math.gcd),
    ),
    _kind(
        "absolute-difference",
        tasks=(
            "{name} has two piles of {thing} with a and b items. Find their absolute difference.",
            "Help {name} compute the absolute difference of two counts of {thing}, a and b.",
            "{name} wants |a - b|, the absolute difference between two piles of {thing}.",
        ),
        io=_PAIR_IN,
        output="Print the absolute difference.",
        solution=_READ_PAIR + "print(abs(a - b))\n",
        edits=(("abs(a - b)", "a - b"), ("a - b", "a + b")),
        steps=("Read a and b.", "Subtract and take abs.", "Print it."),
        make_input=_distinct_pair,
        solve=_on_pair(lambda a, b: abs(a - b)),
    ),
    _kind(
        "power",
        tasks=(
            "{name} stacks {thing} in layers. Compute a raised to the power b.",
            "Help {name} find a to the power of b for a puzzle about {thing}.",
            "{name} wants the power a ** b, a multiplied by itself b times, counting {thing}.",
        ),
        io=_PAIR_IN,
        output="Print a to the power b.",
        solution=_READ_PAIR + "print(a ** b)\n",
        edits=(("a ** b", "a * b"), ("a ** b", "b ** a")),
        steps=("Read a and b.", "Raise a to the power b.", "Print it."),
        make_input=_power_pair,
        solve=_on_pair(pow),
    ),
    _kind(
        "quotient-remainder",
        tasks=(
            "{name} shares {thing} among friends. Find the quotient and remainder of a over b.",
            "Help {name} compute the integer quotient and remainder of a by b, packing {thing}.",
            "{name} packs a {thing} into boxes of b; find the quotient and the remainder.",
        ),
        io=_PAIR_IN,
        output="Print the quotient and the remainder separated by a space.",
        solution=_READ_PAIR + "print(a // b, a % b)\n",
        edits=(("a // b, a % b", "a % b, a // b"), ("a // b", "a / b")),
        steps=("Read a and b.", "Compute a // b and a % b.", "Print both."),
        make_input=_division_pair,
        solve=_on_pair(divmod),
    ),
    _kind(
        "range-sum",
        tasks=(
            "{name} numbers {thing} from a to b. Find the sum of all integers from a to b.",
            "Help {name} add up every integer from a to b, both included, for a row of {thing}.",
            "{name} wants the total of the consecutive integers a, a+1, ..., b labelling {thing}.",
        ),
        io=_PAIR_IN,
        output="Here a < b. Print the sum.",
        solution=_READ_PAIR + "print(sum(range(a, b + 1)))\n",
        edits=(("b + 1", "b"), ("range(a, b + 1)", "range(a + 1, b + 1)")),
        steps=("Read a and b.", "Sum range(a, b + 1).", "Print the sum."),
        make_input=_increasing_pair,
        solve=_on_pair(lambda a, b: (a + b) * (b - a + 1) // 2),
    ),
)

_NUMBER_KINDS = (
    _kind(
        "factorial",
        tasks=(
            "{name} lines up n {thing} in every possible order. Compute n factorial.",
            "Help {name} compute the factorial of n, the product 1 * 2 * ... * n, for {thing}.",
            "{name} wants n!, the number of ways to arrange n {thing} in a row.",
        ),
        io=_NUMBER_IN,
        output="Here n is at most 10. Print n factorial.",
        solution=_READ_NUMBER + "f = 1\nfor i in range(1, n + 1):\n    f *= i\nprint(f)\n",
        edits=(("n + 1", "n"), ("f *= i", "f += i")),
        steps=("Read n.", "Multiply f by every i from 1 to n.", "Print f."),
        make_input=_number_in(2, 10),
        solve=_on_number(math.factorial),
    ),
    _kind(
        "fibonacci",
        tasks=(
            "{name} counts {thing} with Fibonacci numbers. Find F(n), where F(0) = 0, F(1) = 1.",
            "Help {name} compute Fibonacci number F(n) for {thing}, with F(0) = 0 and F(1) = 1.",
            "{name} wants the n-th Fibonacci number, counting {thing} from F(0) = 0 and F(1) = 1.",
        ),
        io=_NUMBER_IN,
        output="Here n is at most 30. Print F(n).",
        solution=_READ_NUMBER + "a, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n",
        edits=(("print(a)", "print(b)"), ("range(n)", "range(n - 1)")),
        steps=("Read n.", "Start from 0 and 1.", "Step n times to the next pair.", "Print a."),
        make_input=_number_in(3, 30),
        solve=_on_number(_fibonacci),
    ),
    _kind(
        "digit-sum",
        tasks=(
            "{name} writes a serial number n on the {thing}. Find the sum of its digits.",
            "Help {name} add up the digits of the number n printed on {thing}.",
            "{name} wants the digit sum of n, the total of its decimal digits, for the {thing}.",
        ),
        io=_NUMBER_IN,
        output="Print the sum of the digits.",
        solution=_READ_TEXT + "print(sum(int(c) for c in s))\n",
        edits=(("in s)", "in s[1:])"), ("sum(int(c) for c in s)", "len(s)")),
        steps=("Read n as text.", "Add up its digits.", "Print the sum."),
        make_input=_number_in(100, 99999),
        solve=_on_number(lambda n: sum(map(int, str(n)))),
    ),
    _kind(
        "is-prime",
        tasks=(
            "{name} has n {thing} and wants to know whether n is a prime number.",
            "Help {name} check if the number n of {thing} is prime.",
            "{name} asks whether n, a count of {thing}, is prime, with no divisors but 1 and n.",
        ),
        io=_NUMBER_IN,
        output="Print YES if n is prime and NO otherwise.",
        solution=_READ_NUMBER
        + "ok = n > 1 and all(n % d for d in range(2, n))\n"
        + 'print("YES" if ok else "NO")\n',
        edits=(("range(2, n)", "range(2, n + 1)"), ("all(", "any(")),
        steps=("Read n.", "Check that no d from 2 to n - 1 divides n.", "Print YES or NO."),
        make_input=_prime_candidate,
        solve=_on_number(lambda n: "YES" if _is_prime(n) else "NO"),
    ),
    _kind(
        "count-divisors",
        tasks=(
            "{name} wants to split n {thing} into equal groups. Count the divisors of n.",
            "Help {name} count how many positive integers divide n, the number of {thing}.",
            "{name} wants the number of divisors of n for a pile of {thing}.",
        ),
        io=_NUMBER_IN,
        output="Print the number of divisors.",
        solution=_READ_NUMBER + "print(sum(1 for d in range(1, n + 1) if n % d == 0))\n",
        edits=(("range(1, n + 1)", "range(1, n)"), ("range(1, n + 1)", "range(2, n + 1)")),
        steps=("Read n.", "Count the d from 1 to n with n % d == 0.", "Print the count."),
        make_input=_number_in(2, 60),
        solve=_on_number(lambda n: sum(n % d == 0 for d in range(1, n + 1))),
    ),
    _kind(
        "to-binary",
        tasks=(
            "{name} encodes a count of n {thing} in binary. Convert n to base 2.",
            "Help {name} write the number n of {thing} in binary.",
            "{name} wants the base 2 representation of n, the number of {thing}.",
        ),
        io=_NUMBER_IN,
        output="Print n in binary without leading zeros.",
        solution=_READ_NUMBER + "print(bin(n)[2:])\n",
        edits=(("[2:]", ""), ("[2:]", "[3:]")),
        steps=("Read n.", "Convert it with bin.", "Print it without the 0b prefix."),
        make_input=_number_in(2, 255),
        solve=_on_number(lambda n: format(n, "b")),
    ),
)

TASK_KINDS: tuple[TaskKind, ...] = _LIST_KINDS + _TEXT_KINDS + _PAIR_KINDS + _NUMBER_KINDS
