"""Phone numbers as paging providers take them: E.164."""

from __future__ import annotations

import re

# A plus, a country code that does not start with 0, and at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
