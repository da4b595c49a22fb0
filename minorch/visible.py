"""Task output shown safely: control characters made visible as ``\\x1b``-style text.

A task's log may hold anything. Passed to a terminal, an escape sequence can recolour,
retitle or clear the screen; in XML, most control characters make the file invalid. Tab,
newline and carriage return stay (a carriage return only in logs: XML turns it into a newline).
"""

from __future__ import annotations

import functools
import re


@functools.cache
def _unsafe(keep_cr: bool) -> re.Pattern[str]:
    """C0 controls except tab and newline (and carriage return if `keep_cr`), DEL, C1 controls,
    and the two non-characters XML forbids. Compiled on first use: most commands show no output."""
    if keep_cr:
        return re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
    return re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")


def _shown(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_cr: bool = False) -> str:
    """`text` with control characters written out: ``"\\x1b[31mred"`` -> ``"\\\\x1b[31mred"``."""
    return _unsafe(keep_cr).sub(_shown, text)


def visible_bytes(data: bytes) -> bytes:
    """Log bytes for a terminal: invalid UTF-8 as ``\\xNN``, control characters visible; a
    carriage return stays, so progress bars still redraw their line."""
    return visible(data.decode("utf-8", errors="backslashreplace"), keep_cr=True).encode()
