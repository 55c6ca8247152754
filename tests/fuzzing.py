"""Shared mutation fuzzing for the text loaders (HLO and StableHLO): strategies that cut, splice
and sprinkle a valid module, and the located-error check every malformed text must pass."""
from __future__ import annotations

import re

from hypothesis import strategies as st

from xla_runtime.errors import HloParseError

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def mutations(alphabet: str, numbers: list[str], tokens: list[str] = ()):
    """A strategy factory: ``mutation(text)`` draws one edit of ``text``."""
    kinds = ["truncate", "delete", "duplicate", "swap", "insert", "number", "drop_line"]
    if tokens:
        kinds.append("token")

    @st.composite
    def mutation(draw, text: str) -> str:
        n = len(text)
        kind = draw(st.sampled_from(kinds))
        a = draw(st.integers(0, n))
        b = min(n, a + draw(st.integers(1, 40)))
        if kind == "truncate":
            return text[:a]
        if kind == "delete":
            return text[:a] + text[b:]
        if kind == "duplicate":
            return text[:b] + text[a:b] + text[b:]
        if kind == "swap":
            c = draw(st.integers(b, n))
            d = min(n, c + draw(st.integers(1, 40)))
            return text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
        if kind == "insert":
            return text[:a] + draw(st.text(alphabet, min_size=1, max_size=4)) + text[a:]
        if kind == "token":
            return text[:a] + draw(st.sampled_from(tokens)) + text[a:]
        if kind == "number":
            found = list(_NUM.finditer(text))
            if not found:
                return text
            m = found[draw(st.integers(0, len(found) - 1))]
            return text[:m.start()] + draw(st.sampled_from(numbers)) + text[m.end():]
        lines = text.split("\n")       # drop_line
        del lines[draw(st.integers(0, len(lines) - 1))]
        return "\n".join(lines)
    return mutation


def mutated_modules(sources: list[str], mutation):
    """Texts made by one to three mutations of one of ``sources``."""
    @st.composite
    def mutated(draw) -> str:
        text = draw(st.sampled_from(sources))
        for _ in range(draw(st.integers(1, 3))):
            text = draw(mutation(text))
        return text
    return mutated()


def assert_located(e: HloParseError, text: str) -> None:
    """A parse error must point inside the text and say where at the start of its message."""
    lines = text.split("\n")
    assert 1 <= e.line <= len(lines), f"line {e.line} outside the text: {e}"
    assert 1 <= e.column <= len(lines[e.line - 1]) + 1, f"column {e.column} outside line {e.line}: {e}"
    assert str(e).startswith(f"{e.line}:{e.column}: ")


def loader_fuzz_tests(builtin: list[str], mutated, alphabet: str, check, max_examples: int):
    """The three tests every text loader gets: mutated modules, inserted punctuation, and a check
    that the starting snippets are valid (a broken one would make the fuzzing vacuous). Bind the
    returned functions to module-level ``test_*`` names."""
    import pytest
    from hypothesis import HealthCheck, given, settings

    from xla_runtime.client import load_module

    @settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated)
    def mutated_modules_fail_cleanly(text):
        check(text)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(builtin), st.text(alphabet, max_size=12), st.integers(0, 10_000))
    def inserted_punctuation_fails_cleanly(text, junk, where):
        where %= len(text) + 1
        check(text[:where] + junk + text[where:])

    @pytest.mark.parametrize("index", range(len(builtin)))
    def builtin_sources_are_valid(index):
        load_module(builtin[index])

    return mutated_modules_fail_cleanly, inserted_punctuation_fails_cleanly, builtin_sources_are_valid
