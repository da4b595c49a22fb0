"""One cgroup v2 per try, where the host lets this process make them: the whole of a try, even a
daemon that double-forked out of its session and process tree, is listed and killed through it.

`TryGroups.probe(state_dir)` finds this process's own cgroup on the cgroup2 mount and checks it
may make a `minorch-<tag>` folder under it (a hash of the state folder, so two projects never
share one) and move a process into a cgroup there; the folder exists while tries are in it.
That works as root on a cgroup v2 (or hybrid) host, or where systemd delegated the subtree to
the service (`Delegate=yes`). Otherwise it returns None and the executor falls back
to the process tree plus the sweep for processes carrying the try's ``MINORCH_ATTEMPT_ID``.

A try's cgroup is named after its attempt id. Its first process joins it before it can fork: a
shell task's script starts by writing to ``cgroup.procs`` (`joining`), a forked Python task
writes it in the fork server's child before it runs anything. Any other command is moved by
its parent right after the spawn (a daemon it forks within those microseconds is still found by
the ``MINORCH_ATTEMPT_ID`` sweep). `kill` uses ``cgroup.kill`` (Linux 5.14+), else SIGKILLs each
member. An empty try cgroup is removed when its try ends; one a try left processes in (a try that
ended on its own does not have its background processes killed) is removed once it is empty.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

# Moving a process into a cgroup waits for the kernel's cgroup lock: 2-30 ms on a cgroup2 mount without
# `favordynmods`, about 0.5 ms with it (measured on Linux 6.18). Slower than this at the probe: say so.
SLOW_JOIN = 0.0015


def _own_cgroup() -> tuple[Path, str, bool] | None:
    """This process's cgroup v2 folder, its cgroup2 mount point and whether that is mounted with
    `favordynmods` (see `find_cgroup`); None without cgroup v2."""
    try:
        return find_cgroup(Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text())
    except OSError:
        return None


def find_cgroup(proc_cgroup: str, mountinfo: str) -> tuple[Path, str, bool] | None:
    """From a process's /proc/<pid>/cgroup and /proc/<pid>/mountinfo: its cgroup v2 folder (the
    cgroup2 mount point joined with the "0::" path), the mount point, and whether the mount has
    `favordynmods` among its options."""
    relative = next((line[3:].strip() for line in proc_cgroup.splitlines() if line.startswith("0::")), None)
    if relative is None:
        return None
    for line in mountinfo.splitlines():
        fields = line.split()
        dash = fields.index("-") if "-" in fields else -1
        if dash > 0 and fields[dash + 1] == "cgroup2":
            root, mount = fields[3], fields[4]
            inside = os.path.relpath(relative, root) if relative.startswith(root) else None
            if inside is not None:
                options = f"{fields[5]},{','.join(fields[dash + 3 :])}".split(",")
                return (Path(mount) / inside if inside != "." else Path(mount)), mount, "favordynmods" in options
    return None


class TryGroups:
    """The `minorch-<tag>` cgroup and a child cgroup per try under it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.hint = ""  # said with `describe()` when joining a cgroup is slow on this host
        self.pending: set[str] = set()  # tries whose cgroup still held processes when they ended
        self.made: set[str] = set()  # tries whose cgroup was made and not removed yet

    @classmethod
    def probe(cls, state_dir: Path) -> TryGroups | None:
        """TryGroups when this process may make cgroups and move a child into one, else None."""
        found = _own_cgroup()
        if found is None or not os.access(found[0], os.W_OK):
            return None
        own, mount, favored = found
        tag = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:8]
        made = cls(own / f"minorch-{tag}")
        try:  # a child that waits on its stdin to be moved, then ends
            waiter = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, close_fds=True)
        except OSError:
            return None
        try:
            began = time.perf_counter()
            moved = made.add("probe", waiter.pid)
            took = time.perf_counter() - began
        finally:
            waiter.communicate()
            made.remove("probe")
        if not moved:
            made.close()
            return None
        made.sweep()  # left by a scheduler that stopped without closing
        if took > SLOW_JOIN and not favored:
            made.hint = (
                f"moving a process into a cgroup took {took * 1000:.1f} ms here, and every try's first process does:"
                f" remount {mount} with favordynmods (Linux 6.0+) to make it well under 1 ms (docs/running.md)"
            )
        return made

    def close(self) -> None:
        """Remove the cgroups of ended tries and, when no try is left in any, the `minorch-<tag>` one."""
        self.sweep()

    def describe(self) -> str:
        return f"each try in its own cgroup under {self.base}" + (f" ({self.hint})" if self.hint else "")

    def path(self, attempt_id: str) -> Path:
        return self.base / attempt_id

    def prepare(self, attempt_id: str) -> str | None:
        """Make the try's cgroup; its `cgroup.procs` file, which a process joins by writing "0"
        to (None when it cannot be made). Paths are strings here: this runs once per try."""
        folder = f"{self.base}/{attempt_id}"
        self.made.add(attempt_id)
        try:
            os.mkdir(folder)
        except FileNotFoundError:  # the `minorch-<tag>` cgroup is made with the first try
            with contextlib.suppress(FileExistsError):
                os.mkdir(self.base)
            try:
                os.mkdir(folder)
            except OSError:
                return None
        except FileExistsError:
            pass
        except OSError:
            return None
        return f"{folder}/cgroup.procs"

    def add(self, attempt_id: str, pid: int) -> bool:
        """Move `pid` into the try's cgroup (made if needed); False when that failed (the process ended)."""
        procs = self.prepare(attempt_id)
        try:
            if procs is None:
                return False
            Path(procs).write_text(str(pid))
        except OSError:
            return False
        return True

    def members(self, attempt_id: str) -> list[int]:
        """The pids in the try's cgroup (none when it has none)."""
        try:
            return [int(line) for line in (self.path(attempt_id) / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def kill(self, attempt_id: str) -> None:
        """SIGKILL every process of the try, those that fork meanwhile too (cgroup.kill)."""
        try:
            (self.path(attempt_id) / "cgroup.kill").write_text("1")
            return
        except FileNotFoundError:
            if not self.path(attempt_id).exists():
                return
        except OSError:
            pass
        for pid in self.members(attempt_id):  # a kernel before 5.14: no cgroup.kill
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def remove(self, attempt_id: str) -> None:
        """Remove the try's cgroup, now if it is empty, else at a later `remove` once it is
        (with those of earlier tries that were not empty yet)."""
        for name in [attempt_id, *self.pending]:
            try:
                os.rmdir(f"{self.base}/{name}")
            except FileNotFoundError:
                pass
            except OSError:  # EBUSY: processes the try left behind still run in it
                self.pending.add(name)
                continue
            self.pending.discard(name)
        self.made.discard(attempt_id)
        if not self.pending and not self.made:  # no try left: no empty `minorch-<tag>` (another run's try keeps it)
            with contextlib.suppress(OSError):
                self.base.rmdir()

    def sweep(self) -> None:
        """Remove the cgroups of ended tries whose left-behind processes have all ended since, and
        the `minorch-<tag>` one when nothing is left in it (`prepare` makes it again)."""
        for folder in self.base.iterdir() if self.base.is_dir() else []:
            if folder.is_dir():
                with contextlib.suppress(OSError):
                    folder.rmdir()
        with contextlib.suppress(OSError):
            self.base.rmdir()


SHELLS = {"sh", "bash", "dash", "ksh", "mksh", "zsh", "ash", "busybox"}


def joining(argv: list[str], procs: str) -> list[str] | None:
    """`argv` changed so that the process joins the cgroup of `procs` first, before it can fork:
    a `SHELL -c SCRIPT` gets the write in front of its script (no extra process). None for any
    other command line: its parent then moves it right after the spawn."""
    if len(argv) >= 3 and os.path.basename(argv[0]) in SHELLS and argv[1] == "-c":
        return [argv[0], "-c", f"echo 0 > {shlex.quote(procs)} 2>/dev/null; {argv[2]}", *argv[3:]]
    return None
