"""A warm process that runs ``python -m minorch ARGS`` for the tests by forking.

Starting an interpreter and importing minorch's command line is most of the CPU of a short
`minorch` command (0.1-0.2 s), and the suite runs several hundred of them. `CliForker` starts one
interpreter that imports what the commands import, then forks a child per command: a process of
its own, with the arguments, environment, working folder and pipes asked for, which runs
``python -m minorch`` from `minorch.__main__` on, exits with its exit code and leaves its own
children as a fresh process would. What it skips is the interpreter's start-up and the imports
(the server imports every command's modules, and `up`'s and `run`'s): the tests about those,
about a process started as a shell job, and `worker` processes start ``python -m minorch`` the
usual way. `start` runs a long-lived command (the tests' `up`) in the background.

Run as a script, this module is the server; it serves the socket it was given until its other end
closes. A request is one JSON line (``argv``, ``env``, ``cwd``) with three file descriptors
(stdin, stdout, stderr) attached; the answer is the child's pid on one line, then its wait status
on another when it ends. Requests are served side by side.

The suite's CPU dropped by the share noted in bench/RESULTS.md; ``MINORCH_TEST_EXEC=1`` turns
the forking off.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time


class CliForker:
    """The client: `run` works like ``subprocess.run([python, "-m", "minorch", *args], ...,
    capture_output=True, text=True, timeout=...)`` with the command forked by the server.
    Thread safe: commands from several threads run side by side."""

    def __init__(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._server = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        theirs.close()
        self._startup = _startup(env)
        self._socket = ours
        self._lock = threading.Lock()
        self._answers: dict[int, list[int]] = {}  # request number -> its child's pid, then its wait status
        self._next = 0

    def serves(self, env: dict[str, str]) -> bool:
        """Whether a command with `env` may be forked: one whose interpreter would start as the server's did
        (the same PYTHON* variables: the module path, warnings, hash seed, ...)."""
        return _startup(env) == self._startup

    def run(self, args: list[str], *, cwd, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
        deadline = time.monotonic() + timeout
        number, pid, out_r, err_r = self._request(args, cwd, env, deadline + 5)
        output = {out_r: b"", err_r: b""}
        try:
            with selectors.DefaultSelector() as selector:
                for fd in output:
                    selector.register(fd, selectors.EVENT_READ)
                while selector.get_map():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        os.kill(pid, signal.SIGKILL)
                        raise subprocess.TimeoutExpired(["minorch", *args], timeout)
                    for key, _ in selector.select(left):
                        data = os.read(key.fd, 65536)
                        if data:
                            output[key.fd] += data
                        else:
                            selector.unregister(key.fd)
        finally:
            for fd in output:
                os.close(fd)
        status = self._answer(number, 1, time.monotonic() + 30)
        if status is None:
            raise RuntimeError(f"no answer from the tests' minorch forker to request {number}")
        out, err = (output[fd].decode(errors="replace") for fd in (out_r, err_r))
        return subprocess.CompletedProcess(["minorch", *args], os.waitstatus_to_exitcode(status), out, err)

    def start(self, args: list[str], *, cwd, env: dict[str, str]) -> Forked:
        """``python -m minorch ARGS`` in the background, like ``subprocess.Popen(..., stdout=PIPE,
        stderr=PIPE, text=True)``: a long-lived command such as `up`, forked."""
        number, pid, out_r, err_r = self._request(args, cwd, env, time.monotonic() + 30)
        return Forked(self, number, pid, open(out_r, encoding="utf-8"), open(err_r, encoding="utf-8"))

    def _request(self, args: list[str], cwd, env: dict[str, str], deadline: float) -> tuple[int, int, int, int]:
        """Send one command: (request number, the child's pid, read ends of its stdout and stderr)."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        with self._lock:
            number = self._next
            self._next += 1
            self._answers[number] = []
            request = json.dumps({"n": number, "argv": args, "env": env, "cwd": str(cwd)}).encode()
            socket.send_fds(self._socket, [request], [null, out_w, err_w])
        for fd in (null, out_w, err_w):
            os.close(fd)
        pid = self._answer(number, 0, deadline)
        if pid is None:
            raise RuntimeError(f"no answer from the tests' minorch forker to request {number}")
        return number, pid, out_r, err_r

    def _answer(self, number: int, index: int, deadline: float) -> int | None:
        """Answer `index` (0: the pid, 1: the wait status) to request `number`, or None once `deadline`
        passed without it. Answers come in any order; whichever caller waits reads them for all."""
        while True:
            with self._lock:
                answers = self._answers[number]
                if len(answers) > index:
                    if index == 1:
                        del self._answers[number]
                    return answers[index]
                self._socket.settimeout(max(0.001, min(0.05, deadline - time.monotonic())))
                try:
                    message = self._socket.recv(256)
                except TimeoutError:
                    message = None
                if message == b"":
                    raise RuntimeError("the tests' minorch forker ended")
                if message:
                    n, value = message.split()
                    self._answers[int(n)].append(int(value))
            if time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        self._socket.close()
        self._server.wait(10)


class Forked:
    """A command `CliForker.start` forked: what the tests use of a `subprocess.Popen` (pid, stdout,
    stderr, poll, wait, send_signal, kill, returncode). The server reaps it and sends its wait status."""

    def __init__(self, forker: CliForker, number: int, pid: int, stdout, stderr) -> None:
        self._forker, self._number = forker, number
        self.pid, self.stdout, self.stderr = pid, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._ended(time.monotonic())

    def wait(self, timeout: float | None = None) -> int:
        code = self._ended(time.monotonic() + (1e9 if timeout is None else timeout))
        if code is None:
            raise subprocess.TimeoutExpired(["minorch", "..."], timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # not reaped yet, so the pid is still this child's
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _ended(self, deadline: float) -> int | None:
        if self.returncode is None:
            status = self._forker._answer(self._number, 1, deadline)
            if status is not None:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _startup(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


def _serve(sock: socket.socket) -> None:  # pragma: no cover - the server process
    import runpy  # noqa: F401 - imported before the fork, as is everything below

    import click  # noqa: F401
    import jinja2  # noqa: F401
    import psutil  # noqa: F401

    import minorch.cli
    import minorch.daemon  # noqa: F401 - what `up` and `run` import on top of the command line
    import minorch.foreground  # noqa: F401
    import minorch.registry  # noqa: F401
    import minorch.store  # noqa: F401

    for family in {module for module, _ in minorch.cli.COMMANDS.values()}:
        importlib.import_module(f"minorch.cli.{family}")

    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.data is None:
                message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
                if not message:
                    return
                request = json.loads(message)
                pid = _fork(request, fds)
                for fd in fds:
                    os.close(fd)
                sock.send(f"{request['n']} {pid}".encode())
                selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (request["n"], pid))
            else:
                number, pid = key.data
                selector.unregister(key.fd)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                sock.send(f"{number} {status}".encode())


def _fork(request: dict, fds: list[int]) -> int:  # pragma: no cover - the server process
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 1 << 16)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["minorch", *request["argv"]]
        import runpy

        try:
            runpy.run_module("minorch", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as stop:
            if stop.code is None or isinstance(stop.code, int):
                code = stop.code or 0
            else:
                print(stop.code, file=sys.stderr)
                code = 1
    except BaseException:  # noqa: BLE001 - what a fresh interpreter would print
        import traceback

        traceback.print_exc()
    finally:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
