"""The fork server: starts Python task tries by forking a warm interpreter.

A new ``python -m minorch.runtime SPEC`` costs 40-60 ms of interpreter start and imports
per try. The fork server is one long-lived child of the executor (`ForkServer` starts it)
that imported `minorch.runtime` once. For each try it forks, and the fork becomes the
task: a session of its own (so a timeout kills its tree), the log file on stdout and
stderr, /dev/null on stdin (the server's own), the try's cwd and environment, then
``minorch.runtime.main([spec])`` and the status file as ``python -m minorch.runtime``
does, and the interpreter's exit steps (wait for non-daemon threads, atexit, flush).
The server never runs user code, so each try starts from the same clean state: what one
task imported or changed is gone for the next.

Python DAG files: a try of a task defined in a DAG file would import the whole file first.
Instead, the second such try of one version of the file makes the server fork a *generation*
for that file (and the tries' cwd; a file whose tasks run one try a day is not kept in
memory for it): a fork that imports the file once, as a try would (that try's environment, cwd
and sys.path), then forks that file's tries itself, each finding its callable already defined
(`minorch.runtime.PRELOADED`). Until it has loaded, tries start from the server and import
the file themselves, as before. The server stats the file and the project's own modules it
imported (see `minorch.pyloader.OwnModules`) before each try it routes: a change gets a fresh
generation, and the old one takes no new tries but reports the ends of those in flight, then
goes. A file that fails to load there, or starts threads while loading, keeps its tries on the
old path (which reports the error in each try's log). At most `MAX_GENERATIONS` are kept, the
least recently used going first, and none that forked nothing for `IDLE_GENERATION` seconds;
each dies with the server (PR_SET_PDEATHSIG). Differences: a
DAG file's top-level code runs once per version, not once per try, and its output while
loading goes nowhere. The server ignores SIGTERM, SIGINT and
SIGHUP (a service manager's stop signal must not cost the exit statuses of the tasks it
runs; it leaves when its socket closes); each fork puts back a new interpreter's handlers.

Protocol: a SOCK_SEQPACKET unix socket pair, one JSON object per message.

    executor -> server  {"id": n, "spec": path, "env": {...}, "cwd": dir, "cgroup": procs file}
                        + the log file's fd (or the masking relay's pipe), and the mask pipe's
                        when the try has one
    server -> executor  {"id": n, "pid": pid}  + a pidfd of the task      the task runs
                     or {"id": n, "errno": n, "error": text, "filename": f}  it could not start
                     or {"ended": pid, "status": wait status, "rss": bytes, "cpu": seconds}
                     or {"broken": text}                                  the server stops

Launches are pipelined: the executor may send several requests before it reads their
answers (`ForkServer.ask`, then `answer`), and neither the server nor a generation waits for a
fork's set-up (its ready pipe is watched with the other fds) or for a generation's answer
before it reads the next request. Each answer names its request's id and comes once the fork
runs in its own session; answers to one batch may come in any order. A task's end (the server
reaps its tasks with os.wait4) is reported only after its start. A generation speaks the same
protocol to the server, which relays its answers and ends, plus {"loaded": {file: stamp}} or
{"failed": text} once; the server keeps each request it passed on until it is answered and
forks it itself if the generation is lost first. It exits when the executor's end of
the socket closes; tasks still running then run on, as orphans.

Differences from a new interpreter, by design: all tasks share the server's hash seed;
``os.getppid()`` is the server; ``__main__`` is the server's (``-c``), not minorch.runtime;
a task's sys.meta_path starts with a finder that invalidates the import caches at its first
import of a module not imported yet and does nothing after that (`_InvalidateFirst`);
/proc/<pid>/environ and cmdline show the server's, except that MINORCH_ATTEMPT_ID is
written over the server's placeholder, so `find_leftover` still knows the task.
Launches whose environment would shape the interpreter differently (PYTHON*, LANG,
LC_*) are not forked: `spec_of` says which launches fit. Linux only (pidfds, /proc/self/mem).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import gc
import importlib
import json
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import NamedTuple

from minorch import runtime
from minorch.masking import MASK_FD_VAR
from minorch.pyloader import OwnModules, stamp

MARKER = "MINORCH_ATTEMPT_ID"
PLACEHOLDER = "-" * 64  # room for an attempt id (uuid4().hex is 32 characters)
MAX_MESSAGE = 256 * 1024  # bytes; the server's receive buffer
MAX_REQUEST = 128 * 1024  # bytes; a launch with a bigger environment is started the usual way
REPLY_TIMEOUT = 10.0  # seconds to wait for an answer; the first includes the server's start (~0.1 s)
_SHAPING = ("PYTHON", "LC_", "LANG")  # environment variables a new interpreter reads at start
_IGNORED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # by the server, not by its tasks
MAX_GENERATIONS = 8  # DAG files kept imported at once (a generation each); the least recently used goes
IDLE_GENERATION = 600.0  # seconds: a generation that forked nothing for this long goes


class ServerGone(Exception):
    """The fork server died, broke down or stopped answering; the message says how."""


class Ended(NamedTuple):
    """A task's end as the server reaped it: `status` is os.wait4's wait status,
    `rss` the peak resident set in bytes, `cpu` user+system seconds."""

    pid: int
    status: int
    rss: int
    cpu: float


def spec_of(argv: list, env: dict[str, str], base: dict[str, str] | os._Environ, attempt_id: str) -> str | None:
    """The spec path when a fork of a server started with environment `base` runs this
    launch as `argv` would: ``[sys.executable, "-m", "minorch.runtime", SPEC]``, an `env`
    whose PYTHON*, LANG and LC_* variables equal `base`'s, and an attempt id that fits
    the marker. None otherwise."""
    if len(argv) != 4 or argv[:3] != [sys.executable, "-m", "minorch.runtime"]:
        return None
    if len(attempt_id.encode()) > len(PLACEHOLDER) or _shaping(env) != _shaping(base):
        return None
    return os.fspath(argv[3])


def _shaping(env) -> dict[str, str]:
    return {key: value for key, value in env.items() if key.startswith(_SHAPING)}


class ForkServer:
    """The executor's end of one fork server process (started by the constructor).

    `fork` starts a task; `ended` returns the ends reported since the last call and never
    blocks; `pending` says some are already read. Once the server is gone `dead` is True
    and `describe()` says how it ended. `answered` counts the requests it answered.

    Thread safety: none; the executor's thread owns it.
    """

    def __init__(self, env: dict[str, str]) -> None:
        """Start a server with environment `env`; raises ServerGone if it cannot start."""
        self.env = env
        self.dead = False
        self.answered = 0
        self._why = ""
        self._ended: list[Ended] = []
        self._asked = 0  # the number of the last request sent
        self._answers: dict[int, tuple[dict, list[int]]] = {}  # answers read before they were awaited
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # holds minorch/
        # The same minorch as ours, whatever the working directory; then the path a new
        # interpreter would have (the fork puts the task's cwd first, as `-m` does).
        code = (
            f"import sys; sys.path.insert(0, {root!r}); import minorch.executors.forkserver as server; "
            f"del sys.path[0]; server.serve({theirs.fileno()}, {os.getpid()})"
        )
        # The placeholder is the last variable, so the marker written over it ends the block.
        server_env = {key: value for key, value in env.items() if key != MARKER}
        server_env[MARKER] = PLACEHOLDER
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd="/",
                env=server_env,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError as err:
            ours.close()
            raise ServerGone(f"cannot start it: {err.strerror}") from None
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        self._poll = select.poll()
        self._poll.register(ours, select.POLLIN)

    def fileno(self) -> int:
        """Readable when the server reported something or died."""
        return self._sock.fileno()

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def pending(self) -> bool:
        return bool(self._ended)

    def fork(
        self,
        spec: str,
        env: dict[str, str],
        cwd: str,
        logfd: int,
        maskfd: int | None = None,
        cgroup: Path | None = None,
    ) -> tuple[int, int] | None:
        """Start a task: (its pid, a pidfd of it). None when the request does not fit in
        one message (an environment over ~128 KB). `maskfd`, when given, stays open in the
        task, which finds its number in $MINORCH_MASK_FD (see `minorch.executors.relay`).
        Raises OSError as `subprocess.Popen` would when the task cannot start (e.g. `cwd`
        missing, with ``filename == cwd``), ServerGone when the server is gone or silent for `REPLY_TIMEOUT` seconds.
        Blocks until the fork has its own session: 1-2 ms (a few context switches and
        the fork of a ~18 MB process); the first request also waits for the server's
        start, ~0.1 s. `ask` and `answer` do the same in two steps, for several tasks at once."""
        asked = self.ask(spec, env, cwd, logfd, maskfd, cgroup)
        return None if asked is None else self.answer(asked)

    def ask(
        self,
        spec: str,
        env: dict[str, str],
        cwd: str,
        logfd: int,
        maskfd: int | None = None,
        cgroup: Path | None = None,
    ) -> int | None:
        """Send the request `fork` sends and return its number for `answer`, without waiting:
        requests sent one after the other fork in parallel. None when it does not fit in one
        message; raises ServerGone when the server is gone."""
        self._asked += 1
        request = {"id": self._asked, "spec": spec, "env": env, "cwd": cwd, "cgroup": cgroup and str(cgroup)}
        data = json.dumps(request).encode()
        if len(data) > MAX_REQUEST:
            return None
        try:
            socket.send_fds(self._sock, [data], [logfd] if maskfd is None else [logfd, maskfd])
        except OSError as err:  # EMSGSIZE: a small socket buffer; BlockingIOError: it stopped reading
            if err.errno == errno.EMSGSIZE:
                return None
            raise ServerGone(f"cannot send it a request: {err}") from None
        return self._asked

    def answer(self, asked: int) -> tuple[int, int]:
        """The answer to request `asked` (see `ask`): (pid, pidfd), or the OSError or
        ServerGone `fork` raises. Answers to other requests that come first are kept for theirs."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        while asked not in self._answers:
            message, fds = self._receive()
            if message is None:
                if self.dead:
                    raise ServerGone(self.describe())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServerGone(f"no answer within {REPLY_TIMEOUT:g}s")
                self._poll.poll(left * 1000)
            elif "ended" in message:
                self._ended.append(_ended(message))
            elif "id" in message:
                self._answers[message["id"]] = message, fds
            else:
                raise ServerGone(f"unexpected answer {message}")
        message, fds = self._answers.pop(asked)
        self.answered += 1
        if "errno" in message:
            raise OSError(message["errno"], message["error"], message["filename"])
        if "pid" in message and len(fds) == 1:
            return message["pid"], fds[0]
        raise ServerGone(f"unexpected answer {message}")

    def ended(self) -> list[Ended]:
        """Task ends reported so far, each once; [] when there are none. Never blocks."""
        while True:
            message, fds = self._receive()
            if message is None:
                break
            if "ended" in message:
                self._ended.append(_ended(message))
            else:
                self._answers[message["id"]] = message, fds
        ended, self._ended = self._ended, []
        return ended

    def describe(self) -> str:
        """How a dead server ended: its last words, "it exited with code 1" or "it was killed by signal 9"."""
        code = self._process.returncode
        return self._why or (f"it was killed by signal {-code}" if code < 0 else f"it exited with code {code}")

    def close(self) -> None:
        """Stop the server (SIGKILL) and reap it. Tasks it started run on, as orphans."""
        self._sock.close()
        self._process.kill()
        self._process.wait()

    def _receive(self) -> tuple[dict | None, list[int]]:
        """The next message and its fds, or (None, []) when there is none now or the server is gone."""
        if self.dead:
            return None, []
        try:
            data, fds, _, _ = socket.recv_fds(self._sock, MAX_MESSAGE, 1, socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return None, []
        except ConnectionError:
            data, fds = b"", []
        message = json.loads(data) if data else {"broken": ""}
        if "broken" in message:
            self.dead, self._why = True, message["broken"]
            try:  # it closed its end on its way out: collect its exit status
                self._process.wait(1.0)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            return None, []
        return message, fds


def _ended(message: dict) -> Ended:
    return Ended(message["ended"], message["status"], message["rss"], message["cpu"])


# -- the server process ----------------------------------------------------------


def serve(fd: int, parent: int) -> None:
    """The server's loop on the socket `fd`; returns when the executor's end closes or the executor's
    process (`parent`) is gone."""
    sock = socket.socket(fileno=fd)
    handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _IGNORED}  # a new interpreter's
    try:
        marker_at = _find_marker()
    except OSError as err:
        _send(sock, {"broken": f"it cannot mark tasks for find_leftover: /proc/self/mem: {err.strerror}"})
        return
    gc.freeze()  # forks then leave the server's objects alone: fewer pages copied
    server = _Server(sock, marker_at, handlers, parent, preload=True)
    try:
        server.run()
    except Exception:
        _send(sock, {"broken": "it failed: " + traceback.format_exc(limit=-3).strip().replace("\n", " | ")})
        raise
    finally:
        server.close()


class _Generation:
    """A fork of the server that imported one version of one Python DAG file (`key`: its path
    and the tries' cwd) and forks that file's tries, with their callables already defined.
    `stamps` (the file's and the project's own modules', see `minorch.pyloader.OwnModules`) is
    None while it loads; `failed` when the file did not load there (its tries then start from the
    server, loading the file themselves, which reports why). `tries`: pids it forked and has not
    reported ended yet; `asked`: requests sent to it and not answered yet (id -> the request, its
    fds and the deadline for the answer), which the server forks itself if it is lost before it
    answers. A `retired` generation takes no new tries and is closed once they ended."""

    def __init__(self, key: tuple[str, str], pid: int, sock: socket.socket, pidfd: int, path_stamp) -> None:
        self.key, self.pid, self.sock, self.pidfd = key, pid, sock, pidfd
        self.path_stamp = path_stamp
        self.stamps: dict[str, list[int] | None] | None = None
        self.failed = False
        self.retired = False
        self.tries: set[int] = set()
        self.asked: dict[int, tuple[bytes, list[int], float]] = {}
        self.used = time.monotonic()

    def current(self) -> bool:
        """Whether the file and the modules it imported are as they were when it loaded them."""
        return self.stamps is not None and all(stamp(path) == was for path, was in self.stamps.items())


class _Forking(NamedTuple):
    """A fork whose set-up is not done yet: its ready pipe closes (or says what failed) when it is."""

    pid: int
    ready: int
    id: int


class _Server:
    """The loop of the fork server (`preload`: start generations for DAG file tries and route those
    tries to them) or of a generation (which forks every request itself). It does not wait for a
    fork's set-up, nor for a generation's answer, before it reads the next request: each answer is
    sent when it is ready, with its request's id. It reports each task's end after its start."""

    def __init__(self, sock: socket.socket, marker_at: int, handlers: dict, parent: int, *, preload: bool) -> None:
        self.sock, self.marker_at, self.handlers, self.preload = sock, marker_at, handlers, preload
        self.parent = parent  # the process that sends the requests: the executor's, or the server for a generation
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)
        self.generations: dict[tuple[str, str], _Generation] = {}  # the newest per key
        self._first_sight: dict[tuple[str, str], list[int] | None] = {}  # key -> stamp at its one try so far
        self.alive: list[_Generation] = []  # every generation not closed yet, newest and retired

    def run(self) -> None:
        while True:
            ready = self.selector.select(self._timeout())
            if self.alive:
                self._retire_idle()
                self._give_up_on_silent()
            for key, _ in ready:
                data = key.data
                if key.fileobj is self.sock:
                    if not self._answer():
                        return
                elif isinstance(data, int):
                    self._report(key.fd, data)
                elif isinstance(data, _Forking):
                    self._set_up(data)
                elif isinstance(data, _Generation):
                    while data in self.alive and self._hear(data):
                        pass
                elif data[1] in self.alive:  # ("exited", generation)
                    self._gone(data[1])

    def _timeout(self) -> float | None:
        """Seconds until the next generation may go idle or owes an answer too long; None: no limit."""
        if not self.alive:
            return None
        due = [deadline for generation in self.alive for _, _, deadline in generation.asked.values()]
        return max(0.0, min(due) - time.monotonic()) if due else IDLE_GENERATION

    def close(self) -> None:
        for generation in list(self.alive):
            self._close(generation, at_exit=True)
        self.selector.close()

    # -- requests

    def _answer(self) -> bool:
        """Fork for one request (or have a generation fork it); False when the executor closed its end."""
        data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 2)
        if not data or os.getppid() != self.parent:
            # A request from a process that died since (a killed scheduler's last launch) is not started:
            # its try is recorded, and a restarted scheduler, finding no process, starts it once itself.
            for fd in fds:
                os.close(fd)
            return False
        request = json.loads(data)
        generation = self._generation_for(request) if self.preload else None
        if generation is not None and self._send_to(generation, request["id"], data, fds):
            return True  # it answers; the fds stay open until it did
        try:
            self._fork(request, fds)
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _fork(self, request: dict, fds: list[int]) -> None:
        """Fork the task; it is answered once it runs in its own session (`_set_up`), or now when it cannot start."""
        ready_r, ready_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as err:
            os.close(ready_r)
            os.close(ready_w)
            self._reply({"id": request["id"], "errno": err.errno, "error": err.strerror, "filename": None})
            return
        if pid == 0:
            _become_task(request, fds, self.marker_at, self.handlers, ready_w)
        os.close(ready_w)
        self.selector.register(ready_r, selectors.EVENT_READ, _Forking(pid, ready_r, request["id"]))

    def _set_up(self, forking: _Forking) -> None:
        """A fork's ready pipe closed: answer its request with its pid and a pidfd, or with what failed."""
        self.selector.unregister(forking.ready)
        with os.fdopen(forking.ready, "rb") as ready:
            failure = ready.read()  # EOF once the task has its signals, session, cwd, marker and log
        if failure:
            os.waitpid(forking.pid, 0)
            self._reply({"id": forking.id, **json.loads(failure)})
            return
        try:
            pidfd = os.pidfd_open(forking.pid)
        except OSError as err:  # out of file descriptors: a task we cannot watch must not run
            os.kill(forking.pid, signal.SIGKILL)
            os.waitpid(forking.pid, 0)
            self._reply({"id": forking.id, "errno": err.errno, "error": err.strerror, "filename": None})
            return
        socket.send_fds(self.sock, [json.dumps({"id": forking.id, "pid": forking.pid}).encode()], [pidfd])
        self.selector.register(pidfd, selectors.EVENT_READ, forking.pid)  # its end is reported after its start

    def _reply(self, message: dict) -> None:
        _send(self.sock, message)

    def _generation_for(self, request: dict) -> _Generation | None:
        """The loaded, current generation for a DAG file try; starts one when there is none (this
        try then starts from the server). None for other tries."""
        path = _dag_file_of(request["spec"])
        if path is None:
            return None
        key = (path, request["cwd"])
        found = self.generations.get(key)
        now_stamp = stamp(path)
        if found is None and self._first_sight.pop(key, None) != now_stamp:
            if len(self._first_sight) >= 256:
                self._first_sight.clear()
            self._first_sight[key] = now_stamp  # a second try of this version starts a generation
            return None
        if found is not None:
            if found.failed or found.stamps is None:  # failed or loading: stays so while the file is unchanged
                if now_stamp == found.path_stamp:
                    return None
            elif found.current():
                found.used = time.monotonic()
                return found
            self._retire(found)
        if len(self.generations) >= MAX_GENERATIONS:
            self._retire(min(self.generations.values(), key=lambda g: g.used))
        self._start(key, request)
        return None

    def _start(self, key: tuple[str, str], request: dict) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        path_stamp, server = stamp(key[0]), os.getpid()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return
        if pid == 0:
            _generation(theirs, key[0], request, self.marker_at, self.handlers, server)
        theirs.close()
        try:
            pidfd = os.pidfd_open(pid)
        except OSError:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            ours.close()
            return
        generation = _Generation(key, pid, ours, pidfd, path_stamp)
        self.generations[key] = generation
        self.alive.append(generation)
        self.selector.register(ours, selectors.EVENT_READ, generation)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exited", generation))

    def _send_to(self, generation: _Generation, asked: int, data: bytes, fds: list[int]) -> bool:
        """Pass a request on to `generation`, which answers it later; False when it cannot take it
        (it died or stopped reading: it is closed, and the server forks the try itself)."""
        try:
            generation.sock.settimeout(REPLY_TIMEOUT)
            socket.send_fds(generation.sock, [data], fds)
        except OSError:
            self._close(generation)
            return False
        generation.asked[asked] = data, fds, time.monotonic() + REPLY_TIMEOUT
        return True

    # -- generations

    def _hear(self, generation: _Generation) -> bool:
        """Take one thing a generation said: an answer, loaded, failed to, or a task's end.
        False when it has nothing more to say now (or it closed its end: then it is closed)."""
        generation.sock.setblocking(False)
        try:
            data, got, _, _ = socket.recv_fds(generation.sock, MAX_MESSAGE, 1, socket.MSG_CMSG_CLOEXEC)
        except BlockingIOError:
            return False
        except OSError:
            data, got = b"", []
        if not data:
            self._close(generation, keep_failure=generation.failed)
            return False
        message = json.loads(data)
        if "id" in message:
            self._relay_answer(generation, message, data, got)
        elif "ended" in message:
            self._relay_end(generation, message)
        elif "loaded" in message:
            generation.stamps = message["loaded"]
        elif "failed" in message:
            generation.failed = True
            self._close(generation, keep_failure=True)
            return False
        return True

    def _relay_answer(self, generation: _Generation, message: dict, data: bytes, got: list[int]) -> None:
        _, fds, _ = generation.asked.pop(message["id"], (None, [], None))
        for fd in fds:
            os.close(fd)
        if "pid" in message:
            generation.tries.add(message["pid"])
        socket.send_fds(self.sock, [data], got)
        for fd in got:
            os.close(fd)  # the generation watches the task and reports its end

    def _relay_end(self, generation: _Generation, message: dict) -> None:
        generation.tries.discard(message["ended"])
        _send(self.sock, message)
        if generation.retired and not generation.tries and not generation.asked:
            self._close(generation)

    def _retire_idle(self) -> None:
        """Let generations that forked nothing for `IDLE_GENERATION` seconds go, with their memory."""
        idle_since = time.monotonic() - IDLE_GENERATION
        for generation in list(self.generations.values()):
            if generation.used < idle_since and not generation.tries and not generation.asked:
                self._retire(generation)

    def _give_up_on_silent(self) -> None:
        """A generation that owes an answer for `REPLY_TIMEOUT` seconds is closed; the server forks its requests."""
        now = time.monotonic()
        for generation in list(self.alive):
            if any(deadline <= now for _, _, deadline in generation.asked.values()):
                self._close(generation)

    def _retire(self, generation: _Generation) -> None:
        """No new tries for it; it goes once its tries have ended."""
        if self.generations.get(generation.key) is generation:
            del self.generations[generation.key]
        generation.retired = True
        if not generation.tries and not generation.asked:
            self._close(generation)

    def _gone(self, generation: _Generation) -> None:
        """A generation ended on its own (it failed to load, or was killed): first what it said."""
        while generation in self.alive and self._hear(generation):
            pass
        self._close(generation, keep_failure=generation.failed)

    def _close(self, generation: _Generation, keep_failure: bool = False, at_exit: bool = False) -> None:
        """Stop and reap a generation; the server forks the requests it had not answered. One with
        tries running leaves no one to report their end: then (but at the server's own exit) the
        server gives up too, and the executor sees them end without an exit status."""
        if generation not in self.alive:
            return
        if generation.tries and not at_exit:
            raise RuntimeError(f"the fork server of a DAG file (pid {generation.pid}) was lost with tries running")
        self.alive.remove(generation)
        if not keep_failure and self.generations.get(generation.key) is generation:
            del self.generations[generation.key]
        self.selector.unregister(generation.sock)
        self.selector.unregister(generation.pidfd)
        generation.sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(generation.pid, signal.SIGKILL)
        os.waitpid(generation.pid, 0)
        os.close(generation.pidfd)
        for data, fds, _ in generation.asked.values():
            try:
                if not at_exit:
                    self._fork(json.loads(data), fds)
            finally:
                for fd in fds:
                    os.close(fd)
        generation.asked.clear()

    # -- ends

    def _report(self, pidfd: int, pid: int) -> None:
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)  # its pidfd is readable: it has exited, this does not block
        _send(
            self.sock,
            {
                "ended": pid,
                "status": status,
                "rss": usage.ru_maxrss * 1024,  # ru_maxrss is KiB
                "cpu": usage.ru_utime + usage.ru_stime,
            },
        )


def _dag_file_of(spec_path: str) -> str | None:
    """The Python DAG file a spec's task is defined in, or None (a module:function target, an unreadable spec)."""
    try:
        with open(spec_path, encoding="utf-8") as file:
            target = json.load(file)["target"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return target.get("path") if isinstance(target, dict) and target.get("kind") == "dagfile" else None


def _generation(sock: socket.socket, path: str, request: dict, marker_at: int, handlers: dict, server: int) -> None:
    """In a fork of the server: import the DAG file at `path` as its first try would (that try's
    environment, cwd and sys.path), say "loaded" with the stamps that date it (or "failed"), then
    fork tries like the server until the server closes the socket. Never returns. The file's own
    output while it loads goes where the server's does (nowhere). It dies with the server."""
    try:
        _die_with(server)
        # The server's fds (its executor's socket, other generations', tasks' pidfds) are not ours.
        os.closerange(3, sock.fileno())
        os.closerange(sock.fileno() + 1, os.sysconf("SC_OPEN_MAX"))
        own = OwnModules()
        own.update()  # what the server had: not the project's
        before = stamp(path)
        try:
            os.chdir(request["cwd"])
            os.environ.clear()
            os.environ.update(request["env"])
            time.tzset()
            sys.argv = [runtime.__file__, request["spec"]]
            if not getattr(sys.flags, "safe_path", False):
                sys.path[0] = os.getcwd()
            importlib.invalidate_caches()
            runtime.preload(path, request["spec"])
        except BaseException as e:  # noqa: BLE001 - the tries load it themselves and say what is wrong
            _send(sock, {"failed": f"{type(e).__name__}: {e}"})
            return
        if threading_active() > 1:  # forking a process with threads can deadlock its forks
            _send(sock, {"failed": "the DAG file starts threads while it loads"})
            return
        _send(sock, {"loaded": {path: before, **own.update()}})
        gc.freeze()
        _Server(sock, marker_at, handlers, server, preload=False).run()
    finally:
        os._exit(0)  # never the server's exit steps, nor the DAG file's atexit


def threading_active() -> int:
    threading = sys.modules.get("threading")
    return threading.active_count() if threading is not None else 1


def _die_with(server: int) -> None:
    """PR_SET_PDEATHSIG: SIGKILL this process when the server dies (a generation stuck in a DAG
    file's import must not outlive it; the tries it forked run on, as any orphaned task)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != server:  # the server died before the call
        os._exit(0)


def _send(sock: socket.socket, message: dict) -> None:
    sock.send(json.dumps(message).encode())


def _find_marker() -> int:
    """The address of the placeholder's value in this process's initial environment
    block (what /proc/<pid>/environ shows); checks that it can be written."""
    with open("/proc/self/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[47]), int(fields[48])  # env_start, env_end: fields 50 and 51 of proc(5)
    entry = f"{MARKER}={PLACEHOLDER}".encode()
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        offset = mem.read(end - start).rfind(entry)
        if offset < 0:
            raise OSError(0, f"no {MARKER} placeholder in the environment block")
        at = start + offset + len(MARKER) + 1
        mem.seek(at)
        mem.write(PLACEHOLDER.encode())
    return at


# -- the forked task -------------------------------------------------------------


def _become_task(request: dict, fds: list[int], marker_at: int, handlers: dict, ready: int) -> None:
    """In the fork: become the task, run it, exit. Never returns, whatever happens.
    `fds` is the log file (or the masking relay's pipe) and, optionally, the mask pipe."""
    logfd, keep = fds[0], fds[1:]
    code = 1
    try:
        for sig, handler in handlers.items():  # before the server answers: a SIGTERM must not be lost
            signal.signal(sig, handler)
        if request.get("cgroup"):  # join the try's cgroup before anything of the task runs
            # gone meanwhile: the tree and the attempt id still find it
            with contextlib.suppress(OSError), open(request["cgroup"], "w") as procs:
                procs.write("0")
        try:
            os.setsid()
            os.chdir(request["cwd"])
            _mark(marker_at, request["env"][MARKER])
            os.dup2(logfd, 1)
            os.dup2(logfd, 2)
        except OSError as err:
            os.write(ready, json.dumps({"errno": err.errno, "error": err.strerror, "filename": err.filename}).encode())
            return
        # Closes the server's socket, pidfds and selector, and `ready`: the server answers now.
        low = 3
        for fd in keep:  # the mask pipe stays open, under the number the task reads
            os.closerange(low, fd)
            low = fd + 1
            request["env"][MASK_FD_VAR] = str(fd)
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        code = _run(request)
    finally:
        os._exit(code)


def _mark(at: int, attempt_id: str) -> None:
    """Write ``MINORCH_ATTEMPT_ID=<attempt_id>`` over the placeholder in /proc/self/environ.
    The placeholder's rest becomes "\\0---": an entry without "=", which readers skip."""
    value = attempt_id.encode()
    if len(value) < len(PLACEHOLDER):
        value += b"\0" + b"-" * (len(PLACEHOLDER) - len(value) - 1)
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(at)
        mem.write(value)


def _run(request: dict) -> int:
    """Run the task as ``python -m minorch.runtime SPEC`` would; returns the exit code."""
    tz = os.environ.get("TZ")
    _set_environ(request["env"])
    if os.environ.get("TZ") != tz:
        time.tzset()
    sys.argv = [runtime.__file__, request["spec"]]
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.getcwd()  # where `python -m` puts the working directory
    sys.meta_path.insert(0, _InvalidateFirst)  # see files created since the server's imports
    interrupted = False
    try:
        code = runtime.run(request["spec"])
    except SystemExit as e:
        code = _exit_code(e.code)
    except BaseException as e:  # what the interpreter prints at top level
        sys.excepthook(type(e), e, e.__traceback__)
        code, interrupted = 1, isinstance(e, KeyboardInterrupt)
    code = _finalize(code)
    if interrupted:  # an interpreter ended by Ctrl-C exits through SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


class _InvalidateFirst:
    """First in a fork's sys.meta_path: the first time an import looks for a module it calls
    importlib.invalidate_caches() (so files created since the server's imports are found); after
    that it does nothing. It stays: leaving while the import system walks sys.meta_path would make
    that walk skip the next finder. A task that imports nothing new does not pay for walking every
    cached finder."""

    done = False

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> None:
        if not cls.done:
            cls.done = True
            importlib.invalidate_caches()


def _set_environ(env: dict[str, str]) -> None:
    """Make os.environ equal `env`, changing only the variables that differ: each change writes
    memory the fork shares with its server, and most variables are the same for every try."""
    for key in [key for key in os.environ if key not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _exit_code(value: object) -> int:
    """The exit status for ``sys.exit(value)``: None -> 0, 3 -> 3, "text" -> printed, 1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _finalize(code: int) -> int:
    """The interpreter's exit steps: join non-daemon threads, run atexit, flush stdio."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return 120  # what the interpreter exits with when it cannot flush stdout at exit
    return code
