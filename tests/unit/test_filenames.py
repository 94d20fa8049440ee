"""Safe names, the identity of a name, and Content-Disposition (RFC 6266, RFC 5987)."""

from __future__ import annotations

import pytest

from core.errors import InvalidName
from core.filenames import content_disposition, name_key, safe_name


@pytest.mark.parametrize(("raw", "kept"), [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ada\\plan.docx", "plan.docx"),
    ("in\x00vo\x1bice\u202egpj.exe", "invoicegpj.exe"),
    ("  spaced  .txt  ", "spaced  .txt"),
    ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC
    ("zero\u200bwidth.txt", "zerowidth.txt"),
])
def test_names_keep_only_their_base_without_control_characters(raw: str, kept: str) -> None:
    assert safe_name(raw) == kept


@pytest.mark.parametrize("raw", ["", "..", "a/..", "dir/", " . ", "\x00\x01", "\u202e"])
def test_names_with_nothing_left_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName):
        safe_name(raw)


def test_a_long_name_keeps_its_extension() -> None:
    name = safe_name("x" * 400 + ".tar.gz")
    assert len(name) == 255
    assert name.endswith("x.gz")


def test_the_same_name_in_another_case_is_the_same_document() -> None:
    assert name_key("Plan FÜR Q1.TXT") == name_key("plan für q1.txt")
    assert name_key("Straße") == name_key("STRASSE")


def test_content_disposition_carries_an_ascii_fallback_and_the_exact_name() -> None:
    assert content_disposition('a "quoted"\\ név.pdf') == (
        "attachment; filename=\"a _quoted__ n_v.pdf\"; "
        "filename*=UTF-8''a%20%22quoted%22%5C%20n%C3%A9v.pdf")
    assert content_disposition("plain.txt", "inline") == (
        "inline; filename=\"plain.txt\"; filename*=UTF-8''plain.txt")
