"""Text as it may be shown: without the characters that corrupt pages, feeds and terminals.

People and monitoring systems write incident titles, notes, updates and alert summaries, and
anything they send is shown back on pages, on the public status page and in its Atom feed.
`printable` removes what has no business there and keeps every other character as it was:

- C0 controls except tab, line feed and carriage return, DEL, and the C1 controls: NUL, BEL,
  ESC and friends are not allowed in XML 1.0 (section 2.2, `Char`) and are parse errors in
  HTML; ESC sequences also reach the terminal of anyone who fetches a page with curl.
- Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): an override
  can make "invoice\u202efdp.exe" read as "invoiceexe.pdf" (CVE-2021-42574, "Trojan Source").
  They are removed rather than replaced with a visible marker: without them the text shows in
  the order it was written, which is the truth, and a marker would only add noise to the
  rare right-to-left title that used them honestly. The invisible marks (U+200E, U+200F,
  U+061C) stay: they cannot reorder text, only nudge neutral characters.
- Lone surrogates and U+FFFE/U+FFFF: not allowed in XML, and a lone surrogate cannot even be
  encoded as UTF-8, so a response carrying one would fail.
"""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f"  # C0 controls but tab, line feed, carriage return
    "\x7f-\x9f"  # DEL and the C1 controls
    "\u202a-\u202e"  # LRE, RLE, PDF, LRO, RLO
    "\u2066-\u2069"  # LRI, RLI, FSI, PDI
    "\ud800-\udfff"  # surrogates, which only appear in a str when lone
    "\ufffe\uffff"
    "]"
)


def printable(text: str) -> str:
    """Return `text` without control characters, bidi overrides and XML-illegal characters."""
    return _UNPRINTABLE.sub("", text)
