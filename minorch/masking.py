"""Masking: secret values replaced by ``***`` in text and in a stream of bytes split anywhere.

A `Masker` holds the secret values of one try. `text` masks a whole string (a stored
rendered command); `feed` masks a stream (a task's output on its way to the log file): it
replaces every whole occurrence and holds back only a tail that could still become one
(the start of a secret cut by the end of a write), so a secret printed in pieces is masked
too. `flush` releases what is held back at the end of the stream.

Also masked: each secret's percent-encoded form (how a password sits in a connection URI).
Not masked: values shorter than `MIN_LENGTH` (masking ``abc`` everywhere would ruin logs
and hide nothing) and transformed values (base64, reversed, hashed).

`register` is what a task process calls when it resolves a secret itself (a Python task's
``Variable.get``): the value travels to the relay that writes its log, through the file
descriptor named by $MINORCH_MASK_FD, before the task can print it.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from urllib.parse import quote

MASK = "***"
MIN_LENGTH = 5  # characters; shorter values are not masked (as Airflow does)
MASK_FD_VAR = "MINORCH_MASK_FD"

# Names whose values are secrets whatever their source (Airflow's list, and the word "key"). A
# pattern, not a compiled one: `re` compiles it at the first name checked (a run without secrets checks none).
_SENSITIVE = (
    r"pass(word|wd|phrase)?($|[^a-z])|password|secret|token|(^|[^a-z])(api|private|access|secret)?[_\-]?key($|[^a-z])|"
    r"apikey|authorization|credential|pwd"
)


def looks_sensitive(name: str) -> bool:
    """True for names like ``password``, ``db_pass``, ``api_key``, ``github_token``, ``client_secret``."""
    return bool(re.search(_SENSITIVE, name.lower()))


def forms(value: str) -> list[str]:
    """The strings masked for one secret value: itself and its percent-encoded form."""
    if len(value) < MIN_LENGTH:
        return []
    found = [value]
    encoded = quote(value, safe="")
    if encoded != value:
        found.append(encoded)
    return found


class Masker:
    """Replaces the secrets it holds by ``***``; see the module docstring."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._secrets: list[bytes] = []
        self._pattern: re.Pattern[bytes] | None = None
        self._held = b""
        self._firsts: set[int] = set()
        for value in values:
            self.add(value)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def add(self, value: str) -> None:
        """Mask `value` (and its forms) from now on; short or known values change nothing."""
        new = [form.encode() for form in forms(value) if form.encode() not in self._secrets]
        if new:
            self._secrets = sorted([*self._secrets, *new], key=len, reverse=True)  # longest first wins
            self._pattern = re.compile(b"|".join(re.escape(s) for s in self._secrets))
            self._firsts = {s[0] for s in self._secrets}

    def text(self, text: str) -> str:
        """`text` with every secret replaced."""
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK.encode(), text.encode()).decode(errors="surrogateescape")

    def feed(self, data: bytes) -> bytes:
        """The part of the stream (held-back bytes, then `data`) that can be written now, masked."""
        buffer = self._held + data
        if self._pattern is None:
            self._held = b""
            return buffer
        matches = [(m.start(), m.end()) for m in self._pattern.finditer(buffer)]
        cut = self._cut(buffer, matches)
        self._held = buffer[cut:]
        out, at = [], 0
        for start, end in matches:
            if end > cut:
                break
            out += [buffer[at:start], MASK.encode()]
            at = end
        out.append(buffer[at:cut])
        return b"".join(out)

    def flush(self) -> bytes:
        """The held-back bytes (the stream ended: they are not a whole secret)."""
        held, self._held = self._held, b""
        if self._pattern is None:
            return held
        return self._pattern.sub(MASK.encode(), held)

    def _cut(self, buffer: bytes, matches: list[tuple[int, int]]) -> int:
        """Where the writable part ends: the earliest position, not inside a match, from which
        the rest of `buffer` is a proper prefix of a secret (so more data could complete it)."""
        longest = len(self._secrets[0])
        for cut in range(max(0, len(buffer) - longest + 1), len(buffer)):
            if buffer[cut] not in self._firsts or any(start < cut < end for start, end in matches):
                continue
            rest = buffer[cut:]
            if any(len(s) > len(rest) and s.startswith(rest) for s in self._secrets):
                return cut
        return len(buffer)


def register(value: str) -> None:
    """Tell the relay writing this try's log to mask `value` (no-op outside a masked try)."""
    fd = os.environ.get(MASK_FD_VAR)
    if not fd or len(value) < MIN_LENGTH:
        return
    line = base64.b64encode(value.encode()) + b"\n"
    try:
        while line:
            line = line[os.write(int(fd), line) :]
    except (OSError, ValueError):
        pass  # the relay is gone (the try is ending) or the variable is not ours: nothing to tell


def decode_registrations(data: bytes) -> tuple[list[str], bytes]:
    """Values from whole lines of `data` written by `register`, and the unfinished rest."""
    *lines, rest = data.split(b"\n")
    values = []
    for line in lines:
        try:
            values.append(base64.b64decode(line, validate=True).decode())
        except ValueError:
            continue
    return values, rest
