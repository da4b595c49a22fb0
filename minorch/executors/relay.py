"""The masking relay: a try's output passes through a pipe and reaches its log file masked.

A try whose launch carries secrets does not write its log file itself. Its stdout and
stderr are the write end of a pipe; the executor's loop reads the other end (`pump`, when
the selector says it is readable) and appends what it read to the log file through a
`Masker`, which also masks a secret split across writes. A second pipe, whose write end
the try finds in $MINORCH_MASK_FD, carries values the try resolved itself (a Python
task's ``Variable.get``): `pump` reads it after each read of the output, so a value
registered before it was printed is always masked (the registration was in its pipe
before the output that follows it was in the other).

When the try has exited, `close` reads what is left, writes the held-back tail and closes
both pipes; output a background process writes after that is lost (it gets EPIPE).
"""

from __future__ import annotations

import contextlib
import os

from ..masking import Masker, decode_registrations

CHUNK = 65536  # bytes per read; one pipe's default capacity


class Relay:
    """Both pipes of one try and its masker. The executor's thread owns it."""

    def __init__(self, logfd: int, secrets: tuple[str, ...]) -> None:
        self.logfd = logfd
        self.masker = Masker(secrets)
        self.out_r, self.out_w = os.pipe2(os.O_CLOEXEC)
        self.ctl_r, self.ctl_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.out_r, False)
        os.set_blocking(self.ctl_r, False)
        self._partial = b""  # an unfinished registration line

    def fileno(self) -> int:
        """Readable when the try wrote output (or all its writers closed it)."""
        return self.out_r

    def started(self) -> None:
        """The try has its copies of the write ends: drop ours, so its exit closes the pipe."""
        for fd in (self.out_w, self.ctl_w):
            os.close(fd)
        self.out_w = self.ctl_w = -1

    def pump(self) -> bool:
        """Move what the try has written so far to the log file; False once the pipe is closed."""
        while True:
            try:
                data = os.read(self.out_r, CHUNK)
            except BlockingIOError:
                self._registrations()
                return True
            self._registrations()  # after the read: anything registered before this output is known
            if not data:
                return False
            self._write(self.masker.feed(data))

    def close(self) -> None:
        """The try has exited: write what is left (the held-back tail too), close the pipes."""
        with contextlib.suppress(OSError):
            self.pump()
        self._write(self.masker.flush())
        for fd in (self.out_r, self.ctl_r, self.out_w, self.ctl_w):
            if fd >= 0:
                os.close(fd)

    def _registrations(self) -> None:
        while True:
            try:
                data = os.read(self.ctl_r, CHUNK)
            except BlockingIOError:
                return
            if not data:
                return
            values, self._partial = decode_registrations(self._partial + data)
            for value in values:
                self.masker.add(value)

    def _write(self, data: bytes) -> None:
        while data:
            data = data[os.write(self.logfd, data) :]
