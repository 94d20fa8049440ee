"""Mail templates: `templates/NAME.txt` (its first line `Subject: ...`, then the plain text)
and `templates/NAME.html` (the HTML body, inside `layout.html`). Placeholders are `$name`
(string.Template); values are escaped in the HTML, never in the text, except those whose name
ends in `_html`, which the caller built (and escaped) itself."""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import Template

HERE = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _template(name: str) -> Template:
    return Template((HERE / name).read_text(encoding="utf-8"))


def render(template: str, /, **values: str) -> Rendered:
    """Fill `template` (KeyError names a missing value: a bug, not a user's input)."""
    subject_line, _, text = _template(f"{template}.txt").substitute(values).partition("\n")
    escaped = {key: value if key.endswith("_html") else html.escape(value)
               for key, value in values.items()}
    body = _template(f"{template}.html").substitute(escaped)
    subject = subject_line.removeprefix("Subject:").strip()
    page = _template("layout.html").substitute(title=html.escape(subject), body=body)
    return Rendered(subject=subject, text=text.lstrip("\n"), html=page)
