"""Reading a scenario's YAML with its line numbers: the reader every part of the parser
shares, collecting every problem as (line, message) instead of stopping at the first."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from load.flow.template import TemplateError, compile_value


class ScenarioError(ValueError):
    """A scenario that cannot run; `problems` are (line, message), line 0 for the file."""

    def __init__(self, source: str, problems: list[tuple[int, str]]) -> None:
        self.source = source
        self.problems = sorted(problems)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.source}:{line}: {message}" if line else f"{self.source}: {message}"
                for line, message in self.problems]


class Fail(Exception):
    pass


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class Reader:
    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.problems: list[tuple[int, str]] = []
        self.constructor = yaml.SafeLoader("")
        self.captures: set[str] = set()
        self.templates: list[tuple[int, Any]] = []

    def fail(self, node: yaml.Node | int, message: str) -> Fail:
        self.problems.append((node if isinstance(node, int) else line_of(node), message))
        return Fail()

    def value(self, node: yaml.Node) -> Any:
        return self.constructor.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str, known: set[str]) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self.value(key_node)
            # Reported, and the rest read on: every problem of a file at once.
            if not isinstance(key, str) or key not in known:
                self.fail(key_node, f"unknown key {key!r} in {what} (known: "
                          f"{', '.join(sorted(known))})")
                continue
            if key in out:
                self.fail(key_node, f"{key!r} given twice in {what}")
                continue
            out[key] = value_node
        return out

    def number(self, node: yaml.Node, what: str, *, lo: float = 0.0, above: bool = False,
               integer: bool = False) -> float:
        value = self.value(node)
        if isinstance(value, str):
            value = seconds(value)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and integer and not float(value).is_integer():
            ok = False
        if not ok or value < lo or (above and value <= lo):
            kind = "an integer" if integer else "a number"
            bound = f"above {lo:g}" if above else f"at least {lo:g}"
            raise self.fail(node, f"{what} must be {kind} {bound}, got {self.value(node)!r}")
        return float(value)

    def text(self, node: yaml.Node, what: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not value:
            raise self.fail(node, f"{what} must be a non-empty string")
        return value

    def template(self, node: yaml.Node) -> Any:
        try:
            compiled = compile_value(self.value(node))
        except TemplateError as exc:
            raise self.fail(node, f"template: {exc} (column {exc.column} of the text)") from None
        self.templates.append((line_of(node), compiled))
        return compiled

    def attempt(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Fail:
            return None


def seconds(text: str) -> Any:
    """`2s`, `500ms`, `1.5` (seconds) as seconds; anything else unchanged."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m)?\s*", text)
    if match is None:
        return text
    return float(match[1]) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match[2]]




def variables(r: Reader, node: yaml.Node) -> dict[str, Any]:
    if not isinstance(node, yaml.MappingNode):
        raise r.fail(node, "variables must be a mapping of names to values")
    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = r.value(key_node)
        if not isinstance(key, str) or not key.isidentifier():
            raise r.fail(key_node, f"variable name {key!r} must be an identifier")
        out[key] = r.template(value_node)
    r.captures.update(out)  # names templates may read
    return out
