"""The template language of scenario files: `{{ expression }}` inside strings.

    "hello {{ user.index }}"            text: the value is written into the string
    "{{ counter('msg') }}"              a whole-string template keeps the value's type (an int)
    "{{ random_choice('a', 'b') }}"     functions: see FUNCTIONS
    "r{{ div(user.index, 10) }}"         arithmetic by functions (add, sub, mul, div, mod)
    "{{ row.email }}" "{{ offset }}"    names: variables, captures, the data row, the user

An expression is a literal (`12`, `-1.5`, `'text'`, `"text"`, `true`, `false`, `null`), a
name with an optional path (`row.email`, `items.0`), or a call `name(expr, ...)`. A literal `{{`
in text is written `{{ '{{' }}`. Templates are compiled when the scenario is read, so a syntax
error or an unknown function is reported with its line before anything connects.
"""

from __future__ import annotations

import re
import string
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from random import Random
from typing import Any


class TemplateError(ValueError):
    """A template that cannot be compiled or evaluated; `column` is 1-based within the text."""

    def __init__(self, message: str, column: int = 0) -> None:
        super().__init__(message)
        self.column = column


class Context:
    """What a template sees while one virtual user runs: its names, its random generator,
    the process's counters and the user's own sequence."""

    def __init__(self, names: Mapping[str, Any], rng: Random,
                 counters: dict[str, int] | None = None, counter_stride: int = 1,
                 counter_offset: int = 0) -> None:
        self.names = names
        self.rng = rng
        self.counters = counters if counters is not None else {}
        self.stride = counter_stride
        self.offset = counter_offset
        self.seq = 0

    def next_count(self, name: str) -> int:
        """Counters are unique across load processes: process k of n yields k, k+n, k+2n..."""
        n = self.counters.get(name, 0)
        self.counters[name] = n + 1
        return n * self.stride + self.offset


def _check_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(f"{what} must be an integer, got {value!r}")
    return value


def _random_int(ctx: Context, lo: Any, hi: Any) -> int:
    lo, hi = _check_int(lo, "random_int's low"), _check_int(hi, "random_int's high")
    if lo > hi:
        raise TemplateError(f"random_int({lo}, {hi}): low above high")
    return ctx.rng.randint(lo, hi)


def _random_float(ctx: Context, lo: Any, hi: Any) -> float:
    return ctx.rng.uniform(float(lo), float(hi))


def _random_choice(ctx: Context, *options: Any) -> Any:
    if not options:
        raise TemplateError("random_choice needs at least one option")
    return options[ctx.rng.randrange(len(options))]


def _random_string(ctx: Context, length: Any) -> str:
    n = _check_int(length, "random_string's length")
    if not 0 <= n <= 65536:
        raise TemplateError("random_string's length must be 0 to 65536")
    return "".join(ctx.rng.choices(string.ascii_letters + string.digits, k=n))


def _uuid(ctx: Context) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def _seq(ctx: Context) -> int:
    value = ctx.seq
    ctx.seq += 1
    return value


def _counter(ctx: Context, name: Any = "default") -> int:
    return ctx.next_count(str(name))


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"{what} takes numbers, got {value!r}")
    return value


def _arith(name: str, op: Any) -> Callable[..., Any]:
    def apply(ctx: Context, a: Any, b: Any) -> Any:
        x, y = _number(a, name), _number(b, name)
        if name in ("div", "mod") and y == 0:
            raise TemplateError(f"{name} by zero")
        return op(x, y)

    return apply


FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    # name: (function, fewest arguments, most arguments; -1 for any number)
    "random_int": (_random_int, 2, 2),
    "random_float": (_random_float, 2, 2),
    "random_choice": (_random_choice, 1, -1),
    "random_string": (_random_string, 1, 1),
    "uuid": (_uuid, 0, 0),
    "counter": (_counter, 0, 1),
    "seq": (_seq, 0, 0),
    "now_ms": (lambda ctx: time.time_ns() // 1_000_000, 0, 0),
    "now_ns": (lambda ctx: time.time_ns(), 0, 0),
    "add": (_arith("add", lambda a, b: a + b), 2, 2),
    "sub": (_arith("sub", lambda a, b: a - b), 2, 2),
    "mul": (_arith("mul", lambda a, b: a * b), 2, 2),
    "div": (_arith("div", lambda a, b: a // b), 2, 2),  # whole division: rooms of 10
    "mod": (_arith("mod", lambda a, b: a % b), 2, 2),
    "str": (lambda ctx, v: v if isinstance(v, str) else _text(v), 1, 1),
    "int": (lambda ctx, v: int(v), 1, 1),
    "len": (lambda ctx, v: len(v), 1, 1),
}
LITERALS = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class Literal:
    value: Any

    def eval(self, ctx: Context) -> Any:
        return self.value


@dataclass(frozen=True)
class Name:
    root: str
    path: tuple[str, ...]
    column: int

    def eval(self, ctx: Context) -> Any:
        if self.root not in ctx.names:
            raise TemplateError(f"{self.root!r} has no value here", self.column)
        return dig(ctx.names[self.root], self.path, self.root)


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Expr, ...]

    def eval(self, ctx: Context) -> Any:
        return FUNCTIONS[self.func][0](ctx, *(arg.eval(ctx) for arg in self.args))


Expr = Literal | Name | Call


def dig(value: Any, path: tuple[str, ...], label: str = "value") -> Any:
    """`path` into nested dicts and lists (a list takes an index)."""
    for part in path:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and \
                -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{label} has no {part!r}")
        label = f"{label}.{part}"
    return value


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.(?:[A-Za-z_][A-Za-z0-9_]*|-?\d+))*)
  | (?P<punct>[(),])
)""", re.VERBOSE)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}


class _Parser:
    def __init__(self, text: str, base: int) -> None:
        self.text, self.base, self.pos = text, base, 0

    def fail(self, message: str) -> TemplateError:
        return TemplateError(message, self.base + self.pos + 1)

    def token(self) -> tuple[str, str, int] | None:
        match = _TOKEN.match(self.text, self.pos)
        if match is None or match.lastgroup is None:
            if self.text[self.pos:].strip():
                column = self.pos + len(self.text[self.pos:]) - len(self.text[self.pos:].lstrip())
                self.pos = column
                raise self.fail(f"unexpected {self.text[column]!r}")
            return None
        start = match.start(match.lastgroup)
        self.pos = match.end()
        return match.lastgroup, match.group(match.lastgroup), start

    def expr(self) -> Expr:
        tok = self.token()
        if tok is None:
            raise self.fail("an expression was expected")
        kind, text, start = tok
        if kind == "num":
            return Literal(float(text) if any(c in text for c in ".eE") else int(text))
        if kind == "str":
            return Literal(re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), text[1:-1]))
        if kind == "punct":
            self.pos = start
            raise self.fail(f"unexpected {text!r}")
        if text in LITERALS:
            return Literal(LITERALS[text])
        save = self.pos
        nxt = self.token()
        if nxt is not None and nxt[1] == "(":
            return self.call(text, start)
        self.pos = save
        root, *path = text.split(".")
        return Name(root, tuple(path), self.base + start + 1)

    def call(self, func: str, start: int) -> Call:
        if func not in FUNCTIONS:
            self.pos = start
            raise self.fail(f"unknown function {func!r} (known: {', '.join(sorted(FUNCTIONS))})")
        args: list[Expr] = []
        save = self.pos
        tok = self.token()
        if tok is None or tok[1] != ")":
            self.pos = save
            while True:
                args.append(self.expr())
                tok = self.token()
                if tok is None or tok[1] not in ",)":
                    raise self.fail(f"',' or ')' expected in the call of {func}")
                if tok[1] == ")":
                    break
        _, lo, hi = FUNCTIONS[func]
        if len(args) < lo or (hi >= 0 and len(args) > hi):
            want = str(lo) if lo == hi else f"{lo} or more" if hi < 0 else f"{lo} to {hi}"
            self.pos = start
            raise self.fail(f"{func} takes {want} argument(s), got {len(args)}")
        return Call(func, tuple(args))


def parse_expr(text: str, base: int = 0) -> Expr:
    parser = _Parser(text, base)
    expr = parser.expr()
    extra = parser.token()
    if extra is not None:
        parser.pos = extra[2]
        raise parser.fail("one expression expected, more follows")
    return expr


@dataclass(frozen=True)
class Template:
    """A compiled string: literal text and expressions in turn."""

    parts: tuple[str | Expr, ...]
    source: str

    def render(self, ctx: Context) -> Any:
        if len(self.parts) == 1 and not isinstance(self.parts[0], str):
            return self.parts[0].eval(ctx)  # a whole-string template keeps the value's type
        return "".join(p if isinstance(p, str) else _text(p.eval(ctx)) for p in self.parts)

    def names(self) -> set[tuple[str, int]]:
        found: set[tuple[str, int]] = set()

        def walk(expr: Expr) -> None:
            if isinstance(expr, Name):
                found.add((expr.root, expr.column))
            elif isinstance(expr, Call):
                for arg in expr.args:
                    walk(arg)

        for part in self.parts:
            if not isinstance(part, str):
                walk(part)
        return found


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        import orjson
        return orjson.dumps(value).decode()
    return str(value)


def compile_text(text: str) -> Template | str:
    """A template, or the text itself when it holds no `{{`."""
    if "{{" not in text:
        return text
    parts: list[str | Expr] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            break
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("'{{' without its closing '}}'", start + 1)
        if start > pos:
            parts.append(text[pos:start])
        parts.append(parse_expr(text[start + 2:end], start + 2))
        pos = end + 2
    if pos < len(text):
        parts.append(text[pos:])
    return Template(tuple(parts), text)


def compile_value(value: Any) -> Any:
    """Compile every string inside a YAML value (dicts, lists, scalars)."""
    if isinstance(value, str):
        return compile_text(value)
    if isinstance(value, dict):
        return {key: compile_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [compile_value(item) for item in value]
    return value


def render(value: Any, ctx: Context) -> Any:
    """A compiled value with every template evaluated."""
    if isinstance(value, Template):
        return value.render(ctx)
    if isinstance(value, dict):
        return {key: render(item, ctx) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, ctx) for item in value]
    return value


def names_in(value: Any) -> set[tuple[str, int]]:
    if isinstance(value, Template):
        return value.names()
    if isinstance(value, dict):
        return set().union(*(names_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(names_in(v) for v in value)) if value else set()
    return set()
