"""LocalExecutor: runs task attempts as child processes and reports facts.

The executor starts each attempt in its own session (so its process group is its
tree), sends its output straight to a per-attempt log file, reaps it with
``os.wait4`` (exit status, peak RSS, CPU time), enforces wall-time timeouts
(SIGTERM, a grace period, then SIGKILL for whatever of the tree is left) and keeps
log files under a size cap. It decides nothing: no retries, no states, no SQLite.
The scheduler reads the `Exit` records and decides.

Thread safety: none. One thread (the scheduler loop) owns a `LocalExecutor` and
calls every method; `kill_tree` and `find_leftover` are plain functions.

Waiting: each child gets a pidfd (Linux >= 5.3) registered with a selector, so
`wait` sleeps until a child exits or the next deadline (a timeout, the end of a
grace period, a log size check). The caller may add its own file descriptors with
`add_wakeup_fd` (e.g. a pipe that a file watcher writes to); `wait` then also
returns when one of them is readable, and the caller reads it itself. Without
pidfds (other systems) `wait` re-checks its children every 50 ms.

Trees: a timed-out or cancelled attempt's tree is listed with psutil before
the SIGTERM (a grandchild that called setsid is outside the process group) and
nothing of it outlives its Exit. An attempt that exits on its own is not swept:
background processes it left behind keep running.

Python tasks: a ``[sys.executable, "-m", "minorch.runtime", SPEC]`` launch is forked by
the fork server (`minorch.executors.forkserver`, imported and started at the first one), ~2 ms
instead of ~50 ms.
`start_all` sends the server the requests of all the Python tasks it starts before it awaits
the first answer, so their forks overlap.
The server reaps it and reports its end on a socket that `wait` watches; signals go
straight to the task's group and tree. If the server dies, its running tasks' ends are
seen on their pidfds, "exit status lost: the fork server died", and the next launch
starts a new one. One that never answered is not restarted (as with ``fork_server=False``).

Masking: a launch with `secrets` writes to a pipe that the loop relays to its log file
through a masker (`minorch.executors.relay`); `wait` also wakes when such a pipe is readable.

Adoption: after a restart, `recover` watches the tries an earlier scheduler left running
through pidfds (they are not our children, so their exit code comes from the status file
they write on their way out), with their timeouts counted from their recorded start.
`detach` leaves every running try running for the next scheduler.

Resources: two file descriptors per running child (its pidfd and its log file), four more
for a masked one (its two pipes), plus the fork server's socket while it runs.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import psutil

    from .forkserver import ForkServer

from ..masking import MASK_FD_VAR
from .base import Adopted, Ended, Executor, Exit, Launch, Lost, OpenTry, Recovered, Running
from .cgroups import TryGroups, joining
from .proctree import (
    boot_ticks,
    create_time_of,
    descendants,
    find_carrying,
    find_leftover,
    find_marked,
    signal_tree,
    stop_all,
    tree_alive,
)
from .relay import Relay

log = logging.getLogger("minorch.executors.local")

LOG_FIRST_CHECK = 0.05  # seconds after the start; soon, since a runaway writer fills 50 MB by then
LOG_CHECK_INTERVAL = 0.5  # seconds between log size checks of a child that writes little
LOG_CHECK_MIN = 0.01  # seconds; floor for a child that writes fast (a 1 GB/s writer)
SETTLE_INTERVAL = 0.05  # seconds; re-check of a dying tree whose leader already exited
BLIND_INTERVAL = 0.05  # seconds; re-check of children that have no pidfd
KILL_SETTLE = 1.0  # seconds after SIGKILL an Exit waits for the tree to be gone
STUCK_AFTER_KILL = 2.0  # seconds `shutdown` waits after its grace before giving up on a child

_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux, bytes on macOS


class _Reaped(NamedTuple):
    returncode: int | None
    signal: int | None
    duration: float
    peak_rss: int | None
    cpu_time: float | None


@dataclass(eq=False)
class _Child:
    launch: Launch
    pid: int
    popen: subprocess.Popen | None  # None: forked by the fork server, which reaps it
    pidfd: int | None  # of a forked child, watched only once its server died
    logfd: int
    started: float
    deadline: float | None
    log_next: float
    log_size: int
    log_at: float
    ending: str | None = None  # "timeout" or "cancel" once we started to stop it
    cancel_reason: str = ""
    grace: float = 0.0
    kill_at: float | None = None
    killed: bool = False
    tree: list[psutil.Process] = field(default_factory=list)
    status: _Reaped | None = None  # set once the leader is reaped
    relay: Relay | None = None  # masks its output on the way to the log file
    adopted: bool = False  # started by an earlier scheduler: its end is read from its status file


@dataclass(eq=False)
class _Opened:
    """A launch `start_all` is starting: its log is open and, for a Python task, the fork
    server has its request (`asked`, the request's number)."""

    launch: Launch
    env: dict[str, str]
    logfd: int
    relay: Relay | None
    procs: str | None  # its cgroup's cgroup.procs, when it has one
    now: float
    before: int | None  # boot ticks before it started
    asked: int | None = None


class LocalExecutor(Executor):
    """Runs attempts as child processes of this process. See the module docstring."""

    name = "local"

    def __init__(
        self,
        clock_monotonic: Callable[[], float] = time.monotonic,
        fork_server: bool = True,
        groups: TryGroups | None = None,
    ) -> None:
        self._now = clock_monotonic
        self._groups = groups  # a cgroup per try, where the host allows it (see `isolation`)
        self._children: dict[str, _Child] = {}
        self._failed: list[Exit] = []
        self._selector = selectors.DefaultSelector()
        self._forking = fork_server and hasattr(os, "pidfd_open")
        self._server: ForkServer | None = None
        self._lost: str | None = None  # why the fork server failed during a `start_all`, until it is dropped

    def start(self, launch: Launch) -> Running:
        """Spawn `launch` now. A spawn that fails (command or cwd missing, not
        executable, log file unwritable) does not raise: it returns ``pid == 0``
        and the next `poll` reports an Exit with code 127 (missing) or 126 (other),
        whose reason is also appended to the log file when it could be opened."""
        return self.start_all([launch])[0]

    def start_all(self, launches: Sequence[Launch]) -> list[Running]:
        """`start` each of `launches`, in order. The fork server gets the requests of all the
        Python tasks among them before the first answer is awaited, so their forks overlap."""
        ids = [launch.attempt_id for launch in launches]
        if len(set(ids)) < len(ids) or any(attempt_id in self._children for attempt_id in ids):
            raise ValueError(f"an attempt of {ids!r} is already running")
        try:
            opened = [self._open(launch) for launch in launches]
            return [found if isinstance(found, Running) else self._start(found) for found in opened]
        finally:
            if self._lost:  # dropped once every answer it sent before it went was read
                self._drop_server(f"{self._lost}; its tries start new interpreters")
                self._lost = None

    def _open(self, launch: Launch) -> Running | _Opened:
        """A launch's log, environment and relay, its request sent to the fork server when it
        is a Python task; a refusal when its log cannot be opened."""
        now = self._now()
        try:
            logfd = _open_log(launch.log_path)
        except OSError as err:
            if err.errno == errno.ELOOP:  # O_NOFOLLOW met a link planted where the log goes
                return self.refuse(
                    launch,
                    126,
                    f"its log file {launch.log_path} is a symbolic link; minorch does not write or cut logs "
                    "through links (remove the link)",
                )
            return self.refuse(launch, 126, f"could not open its log file {launch.log_path}: {err.strerror}")
        env = dict(launch.env)
        env["MINORCH_ATTEMPT_ID"] = launch.attempt_id
        relay = None if launch.secrets is None else Relay(logfd, launch.secrets)
        procs = None if self._groups is None else self._groups.prepare(launch.attempt_id)
        opened = _Opened(launch, env, logfd, relay, procs, now, boot_ticks())
        opened.asked = self._ask(opened)
        return opened

    def _start(self, opened: _Opened) -> Running:
        launch, logfd, relay, now = opened.launch, opened.logfd, opened.relay, opened.now
        if opened.asked is None:  # spawned now, not forked already: a spawn within one clock tick needs no /proc read
            opened.before = boot_ticks()
        try:
            pid, popen, pidfd = self._spawn(opened)
        except (OSError, ValueError) as err:
            code, reason = _spawn_failure(launch, err)
            if relay is not None:
                relay.close()
            os.write(logfd, f"[minorch: {reason}]\n".encode())
            os.close(logfd)
            return self.refuse(launch, code, reason)
        if relay is not None:
            relay.started()
        create_time = create_time_of(pid, opened.before, boot_ticks())
        size = os.fstat(logfd).st_size
        child = _Child(
            launch,
            pid,
            popen,
            pidfd,
            logfd,
            started=now,
            deadline=None if launch.timeout is None else now + launch.timeout,
            log_next=now + LOG_FIRST_CHECK,
            log_size=size,
            log_at=now,
            relay=relay,
        )
        if pidfd is not None and popen is not None:
            self._selector.register(pidfd, selectors.EVENT_READ, child)
        if relay is not None:
            self._selector.register(relay.fileno(), selectors.EVENT_READ, relay)
        self._children[launch.attempt_id] = child
        return Running(launch.attempt_id, pid, create_time)

    @property
    def isolation(self) -> str:  # type: ignore[override]
        """How a stopped try's processes are found: its cgroup, or its tree plus its attempt id."""
        found = "the process tree and every process carrying the try's MINORCH_ATTEMPT_ID"
        if self._groups is None:
            return f"{found} (no cgroup v2 this process may write)"
        return f"{self._groups.describe()}, plus {found}"

    def running(self) -> int:
        """Attempts started whose Exit has not been returned yet."""
        return len(self._children) + len(self._failed)

    def poll(self) -> list[Exit]:
        """Reap finished children, enforce timeouts and grace periods, cap logs.
        Never blocks. Each attempt's Exit is returned once; a timed-out or
        cancelled attempt's Exit waits until its whole tree is gone or was sent
        SIGKILL."""
        exits, self._failed = self._failed, []
        ready = {key.data for key, _ in self._selector.select(0) if key.data is not None}
        now = self._now()
        server = self._server
        if server is not None and (server in ready or server.pending):
            self._collect(server, now)
        for child in list(self._children.values()):
            if child.relay is not None and child.relay in ready and not child.relay.pump():
                self._selector.unregister(child.relay.fileno())  # every writer is gone
            done = self._step(child, now, child.pidfd is None or child in ready)
            if done is not None:
                exits.append(done)
        return exits

    def wait(self, timeout: float | None) -> None:
        """Block until a child exits, a wakeup fd is readable, the next internal
        deadline passes, or `timeout` seconds (None: no limit) elapse. Call `poll`
        afterwards. Returns at once if an Exit is already pending."""
        if self._failed or (self._server is not None and self._server.pending):
            return
        due = self._next_due()
        if due is not None:
            left = max(0.0, due - self._now())
            timeout = left if timeout is None else min(timeout, left)
        self._selector.select(timeout)

    def add_wakeup_fd(self, fd: int) -> None:
        """Make `wait` also return when `fd` is readable. The caller drains it."""
        self._selector.register(fd, selectors.EVENT_READ, None)

    def remove_wakeup_fd(self, fd: int) -> None:
        self._selector.unregister(fd)

    def close(self) -> None:
        """Stop the fork server and release the selector; call once nothing runs any
        more (after `shutdown`)."""
        self._stop_server()
        self._selector.close()
        if self._groups is not None:
            self._groups.close()

    def cancel(self, attempt_id: str, reason: str) -> None:
        """Stop that attempt's tree: SIGTERM now, SIGKILL after its grace. Its Exit
        has ``cancelled=True`` and `reason` as its reason. Unknown or already
        reported ids are ignored, since a cancel may cross the attempt's exit."""
        child = self._children.get(attempt_id)
        if child is not None and child.ending is None:
            self._terminate(child, "cancel", child.launch.grace, self._now(), reason)

    def recorded(self, attempt_id: str) -> None:
        """Nothing to drop: a local try's end waits in its status file, which the scheduler removes itself."""

    def shutdown(self, grace: float) -> list[Exit]:
        """Cancel every attempt ("cancelled by the scheduler shutting down"),
        SIGKILL what is left after `grace` seconds and return all pending Exits.
        Blocks at most `grace` + 2 s; a child that even SIGKILL does not end in
        that time (stuck in the kernel) is reported and left behind."""
        now = self._now()
        for child in self._children.values():
            if child.ending is None:
                self._terminate(child, "cancel", grace, now, "cancelled by the scheduler shutting down")
            elif child.kill_at is not None:
                child.kill_at = min(child.kill_at, now + grace)
        give_up = now + grace + STUCK_AFTER_KILL
        exits = self.poll()
        while self._children and self._now() < give_up:
            self.wait(give_up - self._now())
            exits += self.poll()
        for child in list(self._children.values()):
            exits.append(self._abandon(child))
        self._stop_server()
        return exits

    def recover(self, tries: list[OpenTry], adopt: bool = True) -> list[Recovered]:
        """Tries an earlier scheduler on this host left open. A try whose process still runs
        (same pid, start time and ``MINORCH_ATTEMPT_ID``) is watched again through a pidfd: its
        timeout counts from its recorded start, its log keeps its cap, and its exit code comes
        from its status file when it ends. With ``adopt=False`` it is killed instead (`Lost`).
        A try whose leader is gone is `Ended` when its status file says how, else `Lost`; what
        is left of its tree (found by its ``MINORCH_ATTEMPT_ID``) is killed. Kills share one grace."""
        marked = find_marked("") if tries else {}
        answers: list[Recovered] = []
        doomed: list[psutil.Process] = []
        killed: list[tuple[int, OpenTry]] = []
        for open_try in tries:
            launch = open_try.launch
            leader = None
            if open_try.pid and open_try.create_time is not None:
                leader = find_leftover(open_try.pid, open_try.create_time, launch.attempt_id)
            rest = [p for p in marked.get(launch.attempt_id, []) if leader is None or p.pid != leader.pid]
            rest += self._cgroup_members(launch.attempt_id, {p.pid for p in rest} | {open_try.pid or 0})
            if leader is None and not open_try.pid and adopt:
                # Started, though the scheduler stopped before it recorded the pid (it writes pids
                # in its next transaction): adopted by its attempt id when its leader still runs.
                leader = _unrecorded_leader(rest, launch.status_path)
                if leader is not None:
                    rest = [p for p in rest if p.pid != leader.pid]
                    open_try = replace(open_try, pid=leader.pid, create_time=leader.create_time())
            if leader is not None and adopt and open_try.create_time is not None:  # a leader was found by it
                if self._adopt(open_try, leader.pid):
                    running = Running(launch.attempt_id, leader.pid, open_try.create_time)
                    answers.append(Adopted(launch.attempt_id, running))
                    continue
                leader = None  # it ended a moment ago: its status file says how
            if leader is not None:
                doomed += [leader, *rest]
                killed.append((len(answers), open_try))
                answers.append(Lost(launch.attempt_id, "interrupted: the scheduler stopped while this try ran"))
                continue
            if rest and not open_try.pid:
                # Started (its processes carry the attempt id), though the scheduler stopped before it recorded
                # the pid, and not adopted (`adopt=False`, or its leader is gone): stopped as an interrupted try,
                # unless it ended on its own first (its status file says).
                doomed += rest
                killed.append((len(answers), open_try))
                answers.append(Lost(launch.attempt_id, "interrupted: the scheduler stopped while this try ran"))
                continue
            doomed += rest
            code = _read_status(launch.status_path)
            if code is not None:
                reason = f"exited with code {code} while no scheduler was running"
                answers.append(
                    Ended(Exit(launch.attempt_id, open_try.pid or 0, code, None, 0.0, False, False, None, None, reason))
                )
            elif not open_try.pid:
                answers.append(
                    Lost(
                        launch.attempt_id,
                        "never started: the scheduler stopped between recording this try and starting it",
                    )
                )
            else:
                answers.append(
                    Lost(launch.attempt_id, "lost: the scheduler stopped while this try ran and it left no exit status")
                )
        stop_all(doomed, max((t.launch.grace for t in tries), default=0.0))
        for index, open_try in killed:
            # It may have ended on its own just before the SIGTERM: then its status file says how
            # (a shell killed by the signal itself leaves none, or 128 + the signal).
            code = _read_status(open_try.launch.status_path)
            if code is not None and code not in (128 + signal.SIGTERM, 128 + signal.SIGKILL):
                reason = f"exited with code {code} while no scheduler was running"
                attempt_id = open_try.launch.attempt_id
                done = Exit(attempt_id, open_try.pid or 0, code, None, 0.0, False, False, None, None, reason)
                answers[index] = Ended(done)
        return answers

    def _adopt(self, open_try: OpenTry, pid: int) -> bool:
        """Watch a running process this scheduler did not start; False if it ended meanwhile."""
        launch = open_try.launch
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            return False
        try:
            logfd = _open_log(launch.log_path)
        except OSError:  # it still runs and is watched; only its log goes uncapped
            logfd = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
        now = self._now()
        started = now - open_try.elapsed
        child = _Child(
            launch,
            pid,
            None,
            pidfd,
            logfd,
            started=started,
            deadline=None if launch.timeout is None else started + launch.timeout,
            log_next=now,
            log_size=os.fstat(logfd).st_size,
            log_at=now,
            adopted=True,
        )
        self._selector.register(pidfd, selectors.EVENT_READ, child)
        self._children[launch.attempt_id] = child
        return True

    def detach(self) -> int:
        """Forget every running try and leave it running, for the next scheduler to adopt."""
        count = len(self._children)
        for child in list(self._children.values()):
            self._forget(child)
        self._stop_server()  # its forks run on as orphans
        return count

    # -- the fork server ---------------------------------------------------------

    def _ask(self, opened: _Opened) -> int | None:
        """Send a Python task's request to the fork server (started at the first one): the
        request's number for `_spawn`, or None when the launch is not forked."""
        launch = opened.launch
        if not self._forking or self._lost or launch.argv[1:3] != ["-m", "minorch.runtime"]:
            return None  # not a Python task: a shell-only run never imports the fork server
        from .forkserver import ForkServer, ServerGone, spec_of

        base = os.environ if self._server is None else self._server.env
        spec = spec_of(launch.argv, launch.env, base, launch.attempt_id)
        if spec is None:
            return None
        outfd = opened.logfd if opened.relay is None else opened.relay.out_w
        maskfd = None if opened.relay is None else opened.relay.ctl_w
        try:
            if self._server is None:
                self._server = ForkServer(dict(os.environ))
                self._selector.register(self._server.fileno(), selectors.EVENT_READ, self._server)
            cwd = os.fspath(launch.cwd or os.getcwd())
            cgroup = None if opened.procs is None else Path(opened.procs)
            return self._server.ask(spec, opened.env, cwd, outfd, maskfd, cgroup=cgroup)
        except ServerGone as gone:
            self._lost = str(gone)
        return None

    def _spawn(self, opened: _Opened) -> tuple[int, subprocess.Popen | None, int | None]:
        """Start an opened launch in a session of its own: (pid, its Popen or None when the fork
        server forked it, pidfd). Its output goes to its log, or to its relay's pipe.
        Raises what Popen raises; so does the server for a bad cwd."""
        launch, env, relay, procs = opened.launch, opened.env, opened.relay, opened.procs
        if opened.asked is not None and self._server is not None:
            from .forkserver import ServerGone

            try:
                forked, fork_pidfd = self._server.answer(opened.asked)
                return forked, None, fork_pidfd
            except ServerGone as gone:
                self._lost = self._lost or str(gone)  # the batch's other answers may be read yet
        outfd = opened.logfd if relay is None else relay.out_w
        maskfd = None if relay is None else relay.ctl_w
        argv = launch.argv
        if procs is not None:
            argv = joining(launch.argv, procs) or launch.argv
        if maskfd is not None:
            env[MASK_FD_VAR] = str(maskfd)
        # No preexec_fn and no uid/gid changes, so CPython spawns with vfork.
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=outfd,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=launch.cwd,
            close_fds=True,
            pass_fds=() if maskfd is None else (maskfd,),
            start_new_session=True,
        )
        if self._groups is not None and procs is not None and argv is launch.argv:
            self._groups.add(launch.attempt_id, popen.pid)  # not a shell: moved from here, right after its start
        try:
            pidfd: int | None = os.pidfd_open(popen.pid)
        except (AttributeError, OSError):
            pidfd = None
        return popen.pid, popen, pidfd

    def _collect(self, server: ForkServer, now: float) -> None:
        """Take the ends the fork server reported; forget it once it died."""
        for ended in server.ended():
            child = next((c for c in self._children.values() if c.pid == ended.pid and c.popen is None), None)
            if child is not None:
                child.status = _status(ended.status, now - child.started, ended.rss, ended.cpu)
                self._drop_pidfd(child)
        if server.dead:
            self._drop_server(server.describe())

    def _drop_server(self, why: str) -> None:
        """Stop and forget the fork server; the tries it ran are watched on their pidfds
        and end without an exit status. A server that never answered is not started again."""
        server = self._stop_server()
        watched = self._selector.get_map()
        orphans = [
            c for c in self._children.values() if c.popen is None and c.status is None and c.pidfd not in watched
        ]  # not those of an earlier server
        for child in orphans:
            if child.pidfd is not None:  # a forked child always has one
                self._selector.register(child.pidfd, selectors.EVENT_READ, child)
        if server is None or server.answered == 0:
            self._forking = False
            why += "; it is not started again"
        log.warning("fork server: %s (%d running tries end without an exit status)", why, len(orphans))

    def _stop_server(self) -> ForkServer | None:
        server, self._server = self._server, None
        if server is not None:
            self._selector.unregister(server.fileno())
            server.close()
        return server

    # -- one child -------------------------------------------------------------

    def _step(self, child: _Child, now: float, maybe_exited: bool) -> Exit | None:
        if child.status is None and maybe_exited:
            self._reap(child, now)
        if child.status is not None and child.relay is not None:
            self._close_relay(child)  # all the try wrote reaches the log before its Exit
        if child.status is None and child.ending is None and child.deadline is not None and now >= child.deadline:
            self._terminate(child, "timeout", child.launch.grace, now)
        if child.kill_at is not None and not child.killed and now >= child.kill_at:
            self._kill(child)
        if child.status is not None or now >= child.log_next:
            self._check_log(child, now)
        if child.status is None:
            return None
        if child.ending is not None:
            assert child.kill_at is not None
            if tree_alive(child.tree) and (not child.killed or now < child.kill_at + KILL_SETTLE):
                return None  # the rest of the tree is in its grace period, or dying of SIGKILL
            # Sweep what was forked after the tree was listed: nothing of a stopped
            # attempt's group outlives its Exit.
            signal_tree([], child.pid, signal.SIGKILL)
        return self._finish(child)

    def _reap(self, child: _Child, now: float) -> None:
        if child.adopted:  # not our child: no wait status, but the exit code it left in its status file
            code = _read_status(child.launch.status_path)
            child.status = _Reaped(code, None, now - child.started, None, None)
            self._drop_pidfd(child)
            return
        if child.popen is None:  # forked by a fork server that died: its exit status is gone
            child.status = _Reaped(None, None, now - child.started, None, None)
            self._drop_pidfd(child)
            return
        try:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else: the facts are lost
            child.status = _Reaped(None, None, now - child.started, None, None)
            self._drop_pidfd(child)
            return
        if pid == 0:
            return
        self._drop_pidfd(child)  # a dead child's pidfd stays readable: keep it out of `wait`
        child.status = _status(
            status, now - child.started, usage.ru_maxrss * _RSS_UNIT, usage.ru_utime + usage.ru_stime
        )
        # Tell Popen the child is reaped, so it never waits for this pid again.
        child.popen.returncode = os.waitstatus_to_exitcode(status)

    def _terminate(self, child: _Child, ending: str, grace: float, now: float, reason: str = "") -> None:
        child.ending, child.cancel_reason, child.grace = ending, reason, grace
        # List the tree before signalling: a grandchild that called setsid is outside the
        # process group and only reachable by its pid; one that double-forked is not even a
        # descendant, and is found by its cgroup and its MINORCH_ATTEMPT_ID.
        if child.status is None:
            child.tree = descendants(child.pid)
        self._add_escaped(child)
        signal_tree(child.tree, child.pid, signal.SIGTERM)
        signal_tree(child.tree, child.pid, signal.SIGCONT)  # a stopped process must see the SIGTERM
        child.kill_at = now + grace

    def _kill(self, child: _Child) -> None:
        roots: list[int | psutil.Process] = [*child.tree]
        # An unreported leader's pid was not reused: it is unreaped, or (forked) reaped
        # by the fork server a moment ago, far too soon for the pid space to wrap around.
        if child.status is None:
            roots.append(child.pid)
        known = {p.pid for p in child.tree}
        for root in roots:  # add anything forked since the SIGTERM
            for proc in descendants(root):
                if proc.pid not in known:
                    known.add(proc.pid)
                    child.tree.append(proc)
        self._add_escaped(child)
        if self._groups is not None:
            self._groups.kill(child.launch.attempt_id)
        signal_tree(child.tree, child.pid, signal.SIGKILL)
        child.killed = True

    def _cgroup_members(self, attempt_id: str, known: set[int]) -> list[psutil.Process]:
        """The processes in the try's cgroup but not in `known` (none without cgroups)."""
        import psutil

        found = []
        for pid in self._groups.members(attempt_id) if self._groups is not None else []:
            if pid not in known and pid != os.getpid():
                with contextlib.suppress(psutil.NoSuchProcess):
                    found.append(psutil.Process(pid))
        return found

    def _add_escaped(self, child: _Child) -> None:
        """Add to a stopped try's tree what left it: the members of its cgroup and the processes
        carrying its MINORCH_ATTEMPT_ID (a daemon that double-forked is no descendant any more)."""
        attempt_id = child.launch.attempt_id
        found = find_carrying(attempt_id)
        found += self._cgroup_members(attempt_id, {p.pid for p in found})
        known = {p.pid for p in child.tree} | {child.pid}
        child.tree += [p for p in found if p.pid not in known]

    def _check_log(self, child: _Child, now: float) -> None:
        """Keep the log at most `log_cap` bytes (plus one marker line): cut it back
        to its first half and append the marker. The child appends (O_APPEND), so
        its next write lands after the marker, without a gap. The next check comes
        sooner the faster the log grows, e.g. 10 ms for a 1 GB/s writer."""
        size = os.fstat(child.logfd).st_size
        cap = child.launch.log_cap
        now_size = size
        if size > cap:
            keep = cap // 2
            # Once the child has exited, also keep the log's last lines: that is where the error is.
            tail = _read_tail(child.launch.log_path, size, cap - keep) if child.status is not None else b""
            os.ftruncate(child.logfd, keep)
            marker = f"\n[minorch: log truncated at {keep} bytes]\n".encode()
            os.write(child.logfd, marker + tail)
            now_size = keep + len(marker) + len(tail)
        rate = (size - child.log_size) / max(now - child.log_at, 1e-3)  # bytes per second
        interval = LOG_CHECK_INTERVAL
        if rate > 0:
            interval = min(LOG_CHECK_INTERVAL, max(LOG_CHECK_MIN, (cap - now_size) / rate))
        child.log_size, child.log_at, child.log_next = now_size, now, now + interval

    def _finish(self, child: _Child) -> Exit:
        assert child.status is not None
        code, sig, duration, rss, cpu = child.status
        self._forget(child)
        return Exit(
            child.launch.attempt_id,
            child.pid,
            code,
            sig,
            duration,
            timed_out=child.ending == "timeout",
            cancelled=child.ending == "cancel",
            peak_rss=rss,
            cpu_time=cpu,
            reason=self._reason(child, code, sig),
        )

    def _abandon(self, child: _Child) -> Exit:
        self._forget(child)
        return Exit(
            child.launch.attempt_id,
            child.pid,
            None,
            None,
            self._now() - child.started,
            timed_out=child.ending == "timeout",
            cancelled=child.ending == "cancel",
            peak_rss=None,
            cpu_time=None,
            reason=f"did not end after SIGKILL (process {child.pid}, stuck in the kernel?)",
        )

    def _forget(self, child: _Child) -> None:
        if self._groups is not None:  # kept while processes a try left behind still run in it
            self._groups.remove(child.launch.attempt_id)
        self._drop_pidfd(child)
        self._close_relay(child)
        os.close(child.logfd)
        del self._children[child.launch.attempt_id]

    def _close_relay(self, child: _Child) -> None:
        relay, child.relay = child.relay, None
        if relay is not None:
            if relay.fileno() in self._selector.get_map():
                self._selector.unregister(relay.fileno())
            relay.close()

    def _drop_pidfd(self, child: _Child) -> None:
        if child.pidfd is not None:
            if child.pidfd in self._selector.get_map():  # a forked child's is watched only after its server died
                self._selector.unregister(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None

    @staticmethod
    def _reason(child: _Child, code: int | None, sig: int | None) -> str:
        forced = f"killed after ignoring SIGTERM for {_seconds(child.grace)}"
        if child.ending == "timeout":
            how = forced if sig == signal.SIGKILL and child.killed else "terminated"
            return f"timed out after {_seconds(child.launch.timeout or 0)} and was {how}"
        if child.ending == "cancel":
            return child.cancel_reason + (f" ({forced})" if sig == signal.SIGKILL and child.killed else "")
        if sig is not None:
            return f"killed by signal {sig} ({_signal_name(sig)})"
        if code is None:
            if child.adopted:
                return "ended without leaving an exit status (killed by a signal?)"
            if child.popen is None:
                return "exit status lost: the fork server died"
            return "ended, but its exit status was collected elsewhere"
        hint = {126: " (not executable?)", 127: " (command not found?)"}.get(code, "")
        return f"exited with code {code}{hint}"

    def refuse(self, launch: Launch, code: int, reason: str) -> Running:
        """Report `launch` as never started: its Exit (`code`, `reason`) comes with the next `poll`."""
        self._failed.append(
            Exit(
                launch.attempt_id,
                0,
                code,
                None,
                0.0,
                timed_out=False,
                cancelled=False,
                peak_rss=None,
                cpu_time=None,
                reason=reason,
            )
        )
        return Running(launch.attempt_id, 0, 0.0)

    def _next_due(self) -> float | None:
        due: list[float] = []
        now = self._now()
        for child in self._children.values():
            due.append(child.log_next)
            if child.status is not None:
                due.append(now + SETTLE_INTERVAL)
            else:
                if child.pidfd is None:
                    due.append(now + BLIND_INTERVAL)
                if child.ending is None and child.deadline is not None:
                    due.append(child.deadline)
            if child.kill_at is not None and not child.killed:
                due.append(child.kill_at)
        return min(due, default=None)


def _unrecorded_leader(marked: list[psutil.Process], status_path: Path | None) -> psutil.Process | None:
    """The leader of a try whose pid was never recorded, among the processes carrying its attempt id:
    the first of them to start that leads its own session (every try starts in a session of its own).
    None once it has left its status file (it ended; what is left of its tree is not the try) or when
    none of them qualifies."""
    if status_path is not None and _read_status(status_path) is not None:
        return None
    import psutil

    leaders = []
    for proc in marked:
        try:
            if os.getsid(proc.pid) == proc.pid and proc.status() != psutil.STATUS_ZOMBIE:
                leaders.append((proc.create_time(), proc))
        except (OSError, psutil.Error):  # gone meanwhile
            continue
    return min(leaders, key=lambda pair: pair[0])[1] if leaders else None


def _status(status: int, duration: float, rss: int, cpu: float) -> _Reaped:
    """Facts from an os.wait4 wait status and rusage (rss in bytes, cpu in seconds)."""
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return _Reaped(code, sig, duration, rss, cpu)


def _read_status(path: Path | None) -> int | None:
    """The exit code a try wrote on its way out, or None if it did not (killed, or still running)."""
    if path is None:
        return None
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _read_tail(path: Path, size: int, count: int) -> bytes:
    """The last `count` bytes of a file of `size` bytes, from the start of a line."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, size - count))
            data = handle.read(count)
    except OSError:
        return b""
    newline = data.find(b"\n")
    return data[newline + 1 :] if 0 <= newline < len(data) - 1 else data


def _open_log(path: Path) -> int:
    """The log file, opened for appending; never through a symbolic link (O_NOFOLLOW: the log cap
    truncates the file in place, which must not cut a file the link points to)."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    if folder := os.path.dirname(path):
        _make_folder(folder)  # first: a try's log folder is new but for a retry
    return os.open(path, flags, 0o600)


def _make_folder(folder: str) -> None:
    """`folder` and its missing parents, each private to the user; one mkdir when only it is missing
    (a try's log folder), so the check costs nothing for the folders that exist."""
    try:
        os.mkdir(folder, 0o700)
    except FileNotFoundError:
        parent = os.path.dirname(folder)
        if parent == folder:  # "" or "/": nothing left to make
            raise
        _make_folder(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, 0o700)
    except FileExistsError:
        pass


def _spawn_failure(launch: Launch, err: OSError | ValueError) -> tuple[int, str]:
    if isinstance(err, ValueError):
        return 126, f"could not start: {err}"
    if launch.cwd is not None and err.filename == launch.cwd:
        if err.errno == errno.ENOENT:
            return 127, f"could not start: working directory {launch.cwd} does not exist"
        return 126, f"could not start: working directory {launch.cwd}: {err.strerror}"
    if err.errno == errno.ENOENT:
        return 127, f"could not start: command not found: {launch.argv[0]}"
    if err.errno in (errno.EACCES, errno.ENOEXEC, errno.EPERM):
        return 126, f"could not start: {launch.argv[0]} is not executable ({err.strerror})"
    return 126, f"could not start {launch.argv[0]}: {err.strerror}"


def _seconds(value: float) -> str:
    """5.0 -> "5s", 0.25 -> "0.25s", 86400 -> "86400s"."""
    return f"{value:.3f}".rstrip("0").rstrip(".") + "s"


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
