"""Process trees: list them, signal them, wait for them, and recognise a process after a restart.

A task's tree is listed with psutil before it is signalled, because a grandchild that called
setsid is outside the task's process group and would escape `killpg`. A process is recognised
after a scheduler restart by pid + start time + the ``MINORCH_ATTEMPT_ID`` in its environment.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of a process's start time in /proc
_PROC = os.path.exists("/proc/self/stat")


def kill_tree(pid: int, grace: float) -> None:
    """Terminate `pid` and all its descendants: SIGTERM (to its process group too
    when it leads one), wait up to `grace` seconds, SIGKILL the survivors.
    Blocks up to `grace` + 1 s, less when the tree ends sooner. Meant for trees
    this process did not start (left over from a crashed scheduler): do not use
    it on an executor's own children, whose exit status it could steal."""
    import psutil

    try:
        stop_all([psutil.Process(pid)], grace)
    except psutil.NoSuchProcess:
        return


def stop_all(procs: list[psutil.Process], grace: float) -> None:
    """`kill_tree` for several processes at once, so the grace period is waited for once:
    each process, its process group when it leads one, and all their descendants."""
    tree = signal_all(procs, signal.SIGTERM)
    signal_all(tree, signal.SIGCONT)  # a stopped process must see the SIGTERM
    alive = wait_gone(tree, grace)
    for proc in list(alive):  # add anything forked since the SIGTERM
        alive += [d for d in descendants(proc) if d not in alive]
    signal_all(alive, signal.SIGKILL)
    wait_gone(alive, 1.0)


def signal_all(procs: list[psutil.Process], sig: int) -> list[psutil.Process]:
    """Send `sig` to each of `procs`, all their descendants, and the process group of each that
    leads one. Returns the processes signalled (`procs` and their descendants)."""
    import psutil

    groups, tree = set(), []
    for proc in procs:
        with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
            if os.getpgid(proc.pid) == proc.pid:
                groups.add(proc.pid)
        for member in [proc, *descendants(proc)]:
            if member not in tree:
                tree.append(member)
    for group in groups:
        signal_tree([], group, sig)
    signal_tree([p for p in tree if _group_of(p.pid) not in groups], None, sig)
    return tree


def find_marked(prefix: str) -> dict[str, list[psutil.Process]]:
    """Running processes whose ``MINORCH_ATTEMPT_ID`` starts with `prefix`, by attempt id.
    Children inherit the variable, so this finds a try's whole tree, even a daemon that
    left the try's session. Processes whose environment cannot be read are skipped.

    On Linux each /proc/<pid>/environ is read raw and only a match is made a psutil Process:
    0.6 ms for 124 processes, where psutil's parsed environments took 6-10 ms (and its import
    another ~30 ms, which a start with nothing to recover no longer pays)."""
    if not os.path.isdir("/proc/self"):
        return _find_marked_portably(prefix)
    key = b"MINORCH_ATTEMPT_ID=" + os.fsencode(prefix)
    found: dict[str, list[psutil.Process]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                data = environ.read()
        except OSError:  # gone, or not ours to read
            continue
        if data.startswith(key):
            at = 0
        elif (at := data.find(b"\0" + key) + 1) == 0:
            continue
        value = data[at + len(b"MINORCH_ATTEMPT_ID=") :].split(b"\0", 1)[0]
        import psutil

        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(int(name))
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.setdefault(os.fsdecode(value), []).append(proc)
    return found


def _find_marked_portably(prefix: str) -> dict[str, list[psutil.Process]]:
    import psutil

    found: dict[str, list[psutil.Process]] = {}
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            marker = proc.environ().get("MINORCH_ATTEMPT_ID", "")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if marker.startswith(prefix):
            found.setdefault(marker, []).append(proc)
    return found


def find_carrying(attempt_id: str) -> list[psutil.Process]:
    """The running processes whose ``MINORCH_ATTEMPT_ID`` is `attempt_id`: `find_marked` for one try."""
    return find_marked(attempt_id).get(attempt_id, [])


def find_leftover(pid: int, create_time: float, attempt_id: str) -> psutil.Process | None:
    """The process `pid` if it is still the attempt's: it runs, was created at
    `create_time` (epoch seconds, within 0.01 s) and, when its environment is
    readable, has ``MINORCH_ATTEMPT_ID == attempt_id`` or none at all (a child
    forked but not yet past its exec still has its parent's environment). Otherwise None.

    Caveat: psutil's create_time adds the boot time to the start offset, so a
    wall-clock step between the launch and this check makes it not match."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) > 0.01 or proc.status() == psutil.STATUS_ZOMBIE:
            return None
        try:
            marker = proc.environ().get("MINORCH_ATTEMPT_ID")
        except psutil.AccessDenied:
            return proc
    except psutil.NoSuchProcess:
        return None
    return proc if marker in (attempt_id, None) else None


def boot_ticks() -> int | None:
    """Clock ticks since boot (CLOCK_BOOTTIME), the clock of /proc's process start times."""
    try:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME) // (10**9 // _CLOCK_TICKS)
    except AttributeError:  # not Linux
        return None


def create_time_of(pid: int, before: int | None, after: int | None) -> float:
    """``psutil.Process(pid).create_time()`` of a child forked between the
    `boot_ticks` readings `before` and `after`, computed the way psutil does (start
    ticks / SC_CLK_TCK + /proc/stat's btime), so that a later check by psutil matches.

    When both readings fall in the same 10 ms tick, that tick is the child's start
    tick and /proc/<pid>/stat is not read (it costs ~0.2 ms right after a spawn: the
    child is still busy in exec). Otherwise (often under load) its start tick is read
    from there, without psutil's extra reads; a forked task that already ended
    (reaped by the fork server) gets `before`.
    """
    if before is not None:  # Linux
        ticks = before if before == after else _start_ticks(pid)
        return float(before if ticks is None else ticks) / _CLOCK_TICKS + _boot_time()
    import psutil

    return psutil.Process(pid).create_time()


_btime: list[float] = [0.0, -1.0]  # /proc/stat's btime, and the monotonic second it was read


def _boot_time() -> float:
    """/proc/stat's btime, as psutil reads it, read again once a second: the whole file is made for
    each read (every CPU's counters; 45-60 µs a try), and btime moves only when the wall clock is set."""
    now = time.monotonic()
    if now - _btime[1] >= 1.0:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime"):
                    _btime[:] = [float(line.split()[1]), now]
                    break
    return _btime[0]


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    """The start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat), or None when it is gone."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def started_at(pid: int) -> float | None:
    """When `pid` started, for recognising it later: its start in clock ticks since boot where there is
    /proc (Linux), psutil's create_time elsewhere; None when it is gone or a zombie. Two readings of
    one process are equal, and a wall-clock step changes neither, unlike psutil's create_time on
    Linux, which adds /proc/stat's btime, moved by every step (an NTP correction, a resumed VM)."""
    if not _PROC:
        import psutil

        try:
            proc = psutil.Process(pid)
            return None if proc.status() == psutil.STATUS_ZOMBIE else proc.create_time()
        except psutil.NoSuchProcess:
            return None
    fields = _stat(pid)
    return None if fields is None or fields[0] == b"Z" else float(fields[19])


def descendants(root: int | psutil.Process) -> list[psutil.Process]:
    """All descendants of `root`; none when it is gone or its pid was reused
    (psutil checks a Process's create_time first)."""
    import psutil

    try:
        proc = psutil.Process(root) if isinstance(root, int) else root
        return proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def signal_tree(procs: list[psutil.Process], group: int | None, sig: int) -> None:
    """Send `sig` to process group `group` and to each of `procs` still running outside it
    (psutil checks each pid was not reused). Each process gets the signal once: a shell whose
    TERM trap exits runs its EXIT trap, and a second SIGTERM arriving then runs the TERM trap
    again in the middle of it, which can cut short the exit status file the EXIT trap writes."""
    import psutil

    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
    for proc in procs:
        if group is not None and _group_of(proc.pid) == group:
            continue  # the group's signal reached it
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for each of `procs` to end; return those that
    did not. A zombie counts as ended: its parent may be slow to reap it."""
    import psutil

    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for proc in procs:
            try:
                pidfd = os.pidfd_open(proc.pid)
            except ProcessLookupError:
                continue
            except (AttributeError, OSError):
                return psutil.wait_procs(procs, timeout)[1]
            if proc.is_running():  # the pid was not reused before we opened it
                selector.register(pidfd, selectors.EVENT_READ, proc)
            else:
                os.close(pidfd)
        while selector.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                selector.unregister(key.fd)
                os.close(key.fd)
        alive = [key.data for key in selector.get_map().values()]
        for key in list(selector.get_map().values()):
            selector.unregister(key.fd)
            os.close(key.fd)
    return alive


def tree_alive(procs: list[psutil.Process]) -> bool:
    """True while one of `procs` runs; a zombie (dead, not yet reaped) does not count."""
    import psutil

    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            pass
    return False
