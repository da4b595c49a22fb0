"""Whether anything in the DAG folders or minorch.toml may have changed, without stat-ing every file.

The scheduler asks `DagWatcher.changed` once a second; only on True does it stat every DAG file
(`registry.file_stamps`) and reload what changed. On Linux the answer comes from inotify (through
libc with ctypes, no dependency): a watch on every DAG folder and subfolder that `registry.dag_files`
walks, and on the folders holding minorch.toml and its layer. A quiet project then costs one
non-blocking read() a second, whatever its number of files. Elsewhere, or when inotify cannot be
used (no libc, the per-user watch limit reached), `changed` is always True: the stat polling of
before.

A True may be a false alarm (a file beside minorch.toml changed, an editor's swap file): the
caller's stat comparison decides. An event is never missed: after events, every folder is watched
again (a new subfolder gets its watch) before `changed` returns, and the caller stats afterwards,
so a file written before its folder's watch existed is still found.

The inotify instance is kept across changes (new folders are added to it, folders no longer
watched are removed from it), not replaced: closing an instance waits for the kernel's grace
period, 10-30 ms on a quiet machine, and the scheduler's loop would spend that just before a fire.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Iterable
from pathlib import Path

# <sys/inotify.h>
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)


def folders_to_watch(dag_folders: Iterable[Path], config_files: Iterable[Path], skip: Path | None) -> list[Path]:
    """Every folder whose entries decide the DAG files: the DAG folders and the subfolders
    `registry.dag_files` walks into (not `_*`, `.*` nor `skip`, the state folder), and the
    folders of the config files."""
    found = {Path(os.path.abspath(path)).parent for path in config_files}
    skip_at = os.path.abspath(skip) if skip is not None else None
    for folder in dag_folders:
        missing = Path(os.path.abspath(folder))
        while not missing.is_dir() and missing != missing.parent:  # its creation shows in the nearest parent
            missing = missing.parent
        found.add(missing)
        for top, dirs, _ in os.walk(folder):
            if os.path.abspath(top) == skip_at:
                dirs[:] = []
                continue
            dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
            found.add(Path(os.path.abspath(top)))
    return sorted(found)


class DagWatcher:
    """`changed(...)` is True when something in the folders `folders_to_watch` names for its
    arguments may have changed since the last call, or the arguments are not those of the last
    call; always True on the first call and without inotify. Never blocks. Thread safety: none."""

    def __init__(self) -> None:
        self._fd: int | None = None
        self._watched: tuple | None = None
        self._wds: dict[Path, int] = {}  # folder -> its watch
        self._libc = _libc()

    @property
    def native(self) -> bool:
        """Whether inotify answers (False: every call says True, the caller polls)."""
        return self._fd is not None

    def changed(self, dag_folders: list[Path], config_files: list[Path], skip: Path | None) -> bool:
        if self._libc is None:
            return True
        given = (list(dag_folders), list(config_files), skip)
        if self._fd is not None and given == self._watched and not self._drain():
            return False
        self._watch(folders_to_watch(*given))
        if self._fd is not None:
            self._watched = given
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._watched = None
        self._wds = {}

    def _drain(self) -> bool:
        """Read every pending event; whether there was any (an overflow counts)."""
        assert self._fd is not None
        seen = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return seen
            except OSError:
                self.close()
                return True
            if not data:
                return seen
            seen = True

    def _watch(self, folders: list[Path]) -> None:
        """Watch exactly `folders` with the instance there is (a new one the first time): every watch
        of a folder not among them is removed first, then each of them is (re)added (the same folder
        keeps its watch; a folder renamed to a new path is watched under it). A folder gone meanwhile
        is skipped (its parent's watch saw it go); any other failure leaves no inotify instance, and
        the next call tries again."""
        assert self._libc is not None
        if self._fd is None:
            fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if fd < 0:
                return
            self._fd = fd
        wanted = set(folders)
        for folder in [folder for folder in self._wds if folder not in wanted]:
            self._libc.inotify_rm_watch(self._fd, self._wds.pop(folder))  # EINVAL: it went with its folder
        for folder in folders:
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), MASK)
            if wd >= 0:
                self._wds[folder] = wd
            elif ctypes.get_errno() != errno.ENOENT:  # ENOSPC: the watch limit; EACCES: unreadable
                self.close()
                return
        self._drain()  # the removals' IN_IGNORED, and events the caller's stat comparison sees anyway


def _libc() -> ctypes.CDLL | None:
    """libc with inotify, or None (not Linux, no inotify functions found). The interpreter has
    libc loaded already: the process's own symbols (dlopen(NULL)) hold them, without the search of
    `ctypes.util.find_library`, which runs ldconfig (or a compiler) to find the file: 2-20 ms."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
    except (OSError, AttributeError):
        return None
    return libc
