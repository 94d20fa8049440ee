"""The scenario template language, by its properties."""

from __future__ import annotations

import contextlib
import json
import re
from random import Random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from load.flow.template import Context, Template, TemplateError, compile_text, compile_value, render

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(min_size=1, max_size=8), inner, max_size=4),
    max_leaves=10)
plain_text = st.text(max_size=60).filter(lambda s: "{{" not in s)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: s not in ("true", "false", "null"))


def ctx(names: dict[str, Any] | None = None, seed: int = 0) -> Context:
    return Context(names or {}, Random(seed))


@given(plain_text)
def test_text_without_braces_is_itself(text: str) -> None:
    assert compile_text(text) == text


@given(identifiers, json_values)
def test_a_whole_string_template_keeps_the_value_and_its_type(name: str, value: Any) -> None:
    template = compile_text("{{ " + name + " }}")
    assert isinstance(template, Template)
    assert template.render(ctx({name: value})) == value


@given(plain_text.filter(bool), identifiers, st.integers(), plain_text)
def test_embedded_values_are_written_into_the_text(before: str, name: str, value: int,
                                                   after: str) -> None:
    if before.endswith("{") or after.startswith("}"):
        return  # `{` next to the braces would make another delimiter
    template = compile_text(before + "{{" + name + "}}" + after)
    assert render(template, ctx({name: value})) == f"{before}{value}{after}"


@given(st.text(max_size=30).filter(lambda s: "}}" not in s and "\\" not in s and "'" not in s))
def test_a_quoted_literal_renders_to_its_text(text: str) -> None:
    assert render(compile_text("{{ '" + text + "' }}"), ctx()) == text


@given(st.integers(0, 2**32), st.integers(-1000, 1000), st.integers(0, 1000))
def test_random_values_follow_the_seed_and_stay_in_range(seed: int, lo: int, span: int) -> None:
    template = compile_text(f"{{{{ random_int({lo}, {lo + span}) }}}}")
    first = [render(template, c) for c in [ctx(seed=seed)] for _ in range(5)]
    again = [render(template, c) for c in [ctx(seed=seed)] for _ in range(5)]
    assert first == again
    assert all(lo <= v <= lo + span for v in first)


@given(st.integers(1, 5), st.integers(0, 4))
def test_counters_are_unique_across_load_processes(procs: int, draws: int) -> None:
    seen = []
    for index in range(procs):
        shared: dict[str, int] = {}
        c = Context({}, Random(0), shared, procs, index)
        seen += [render(compile_text("{{ counter('n') }}"), c) for _ in range(draws + 1)]
    assert sorted(seen) == list(range(procs * (draws + 1)))


@given(json_values)
def test_values_without_templates_are_unchanged(value: Any) -> None:
    if "{{" in json.dumps(value):
        return
    assert render(compile_value(value), ctx()) == value


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_any_text_compiles_or_fails_with_a_template_error(text: str) -> None:
    try:
        compiled = compile_text(text)
    except TemplateError as exc:
        assert exc.column >= 1
        return
    # A name with no value, or a function given a wrong type: reported per step at run time.
    with contextlib.suppress(TemplateError, TypeError, ValueError):
        render(compiled, ctx())


@pytest.mark.parametrize(("text", "message", "column"), [
    ("{{ nope(1) }}", "unknown function 'nope'", 4),
    ("a {{ random_int(1) }}", "random_int takes 2 argument(s), got 1", 6),
    ("{{ 1 2 }}", "one expression expected", 6),
    ("x {{ user.id", "'{{' without its closing '}}'", 3),
    ("{{ }}", "an expression was expected", 3),
    ("{{ random_int(1,, 2) }}", "unexpected ','", 17),
])
def test_syntax_errors_say_what_and_where(text: str, message: str, column: int) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)) as caught:
        compile_text(text)
    assert caught.value.column == column


def test_paths_reach_into_rows_lists_and_captures() -> None:
    names = {"row": {"email": "a@b"}, "items": [{"id": 3}], "user": {"index": 2}}
    assert render(compile_text("{{ row.email }}/{{ items.0.id }}/{{ user.index }}"),
                  ctx(names)) == "a@b/3/2"
    with pytest.raises(TemplateError, match="has no 'x'"):
        render(compile_text("{{ row.x }}"), ctx(names))


def test_seq_counts_per_user_and_literal_braces_are_written_as_strings() -> None:
    c = ctx()
    assert [render(compile_text("{{ seq() }}"), c) for _ in range(3)] == [0, 1, 2]
    assert render(compile_text("{{ '{{' }} x"), c) == "{{ x"


@given(st.integers(-10**6, 10**6), st.integers(-1000, 1000).filter(bool))
def test_whole_division_and_remainder_agree(a: int, b: int) -> None:
    c = ctx({"a": a, "b": b})
    div = render(compile_text("{{ div(a, b) }}"), c)
    mod = render(compile_text("{{ mod(a, b) }}"), c)
    assert div * b + mod == a
    assert render(compile_text("{{ add(mul(a, 2), sub(0, a)) }}"), c) == a


def test_arithmetic_refuses_what_is_not_a_number_and_division_by_zero() -> None:
    with pytest.raises(TemplateError, match="div by zero"):
        render(compile_text("{{ div(1, 0) }}"), ctx())
    with pytest.raises(TemplateError, match="add takes numbers"):
        render(compile_text("{{ add('1', 2) }}"), ctx())
