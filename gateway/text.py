"""Text fields people type: names, group names, purposes, device names.

They are shown to others, so no control characters (they break layouts and logs) and no
invisible formatting characters: bidirectional overrides and isolates (U+202A–U+202E,
U+2066–U+2069) can make a name read as something else ("Trojan Source", Boucher &
Anderson 2021), zero-width ones can make two names look identical.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

END = r"$(?![\s\S])"
"""The very end of the text. (Python's `$` also matches before a final newline, which
msgspec's pattern search would let through; the look-ahead means the same in JSON Schema.)"""
NO_CONTROL = (r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
              r"\u2060-\u206f\ufeff\ufff9-\ufffb]*" + END)
"""Matches text free of C0/C1 controls and of invisible format characters."""


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=NO_CONTROL)]
Purpose = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_CONTROL)]
HttpUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s\x00-\x1f\x7f]+" + END)]
"""An http(s) URL: a `javascript:` or `data:` avatar would run or load in others' pages."""
