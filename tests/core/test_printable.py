"""What of a user's text may be shown on pages and in the Atom feed."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tocsin.core.printable import printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param("Disk full on db-7", "Disk full on db-7", id="plain"),
        pytest.param("a\tb\nc\r\nd", "a\tb\nc\r\nd", id="tab-and-newlines-stay"),
        pytest.param("nul\x00 bel\x07 esc\x1b[31mred", "nul bel esc[31mred", id="c0-controls"),
        pytest.param("del\x7f c1\x85\x9b", "del c1", id="del-and-c1"),
        pytest.param("\x0bvertical\x0cfeed", "verticalfeed", id="vt-and-ff"),
        pytest.param("invoice\u202efdp.exe", "invoicefdp.exe", id="right-to-left-override"),
        pytest.param("\u202a\u202b\u202c\u202d x", " x", id="embeddings-and-pop"),
        pytest.param("\u2066a\u2067b\u2068c\u2069", "abc", id="isolates"),
        pytest.param("lone \ud800 surrogate", "lone  surrogate", id="lone-surrogate"),
        pytest.param("\ufffe\uffffend", "end", id="xml-nonchars"),
        pytest.param(
            "שלום\u200f (Hebrew) é 日本 🚨 \u200e",
            "שלום\u200f (Hebrew) é 日本 🚨 \u200e",
            id="unicode-kept",
        ),
    ],
)
def test_printable_removes_only_what_corrupts(text: str, shown: str) -> None:
    assert printable(text) == shown


@given(st.text())
def test_printable_text_always_parses_as_xml(text: str) -> None:
    cleaned = printable(text)
    element = ElementTree.fromstring(
        "<t>" + cleaned.replace("&", "&amp;").replace("<", "&lt;") + "</t>"
    )
    # XML parsers normalise line ends, which is all they may change.
    assert (element.text or "") == cleaned.replace("\r\n", "\n").replace("\r", "\n")
    assert printable(cleaned) == cleaned
