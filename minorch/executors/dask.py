"""DaskExecutor: runs each try on a Dask worker under a minorch supervisor, and reports facts.

Dask carries and places tries; minorch supervises them (`executors.supervisor`, started by
`executors.dask_worker.run_try` on the worker). Each try is one Dask task keyed
``minorch-<attempt id>``, submitted with ``pure=False`` and, for a task with a ``queue``, the
worker resource ``queue-<name>``. Dask must not run a task twice: on connecting, the Dask
scheduler's ``allowed_failures`` is set to 0 (minorch's retries are the only retries), and a
worker claims each try with a folder keyed by the attempt id. Dask still computes a finished task
again when the worker holding its result dies before the result is fetched; so a worker marks each
try it starts on the Dask scheduler (an event named ``minorch-started-<attempt id>``, cleared when
the try's folder is forgotten), and a delivery that finds the mark set on a host that never claimed
the try does not start it (the try is watched again on the host that did).

Facts come back three ways: ``minorch-started`` events (which worker, pid) become `Running`
records; ``minorch-log`` events are written into the try's local log file at their offsets
(so a repeat is harmless); the Dask task's result is the try's end. Callbacks run in the Dask
client's thread: they only queue what they got and write to a pipe that `wait` watches.

When a try's worker or the Dask scheduler goes away, the try is not given up at once: its
supervisor outlives both. The executor looks for a worker with the same name every second and
watches the try there again (``watch_only``: never a second start). If none comes within
`lost_after` seconds (plus the try's grace), the try is reported lost (``Exit.lost``): its
supervisor has killed it by then, and the scheduler tries it again without counting it.

Thread safety: one thread (the scheduler loop) calls every method; Dask's callbacks touch only
`_inbox` (a deque) and the wakeup pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .base import Adopted, Executor, Exit, Launch, Lost, OpenTry, Recovered, Running
from .dask_worker import LOG_TOPIC, START_TOPIC, cancel_try, file_digest, find_or_fence, forget_try, run_try

if TYPE_CHECKING:
    from distributed import Future

RELOOK_INTERVAL = 1.0  # seconds between looks for the worker of a try whose watch broke
GATHER_TIMEOUT = 5.0  # seconds to fetch a finished watch's result before calling the watch broken
UNPLACED_AFTER = 5.0  # seconds a try may wait unplaced before the Dask scheduler is asked whether it knows it
FORGET_INTERVAL = 1.0  # seconds between batches of "delete these try folders" sent to workers
LATE_KEPT = 1000  # reported tries whose late log events are still written


def import_distributed():
    """The `distributed` module, or one clear line when the optional extra is missing."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            'executor = "dask" needs Dask distributed, which is not installed',
            hint='pip install "minorch[dask]"',
        ) from None
    return distributed


def security_for(address: str, dask, role: str = "client"):
    """A `distributed.Security` for `address` from [executor.dask]-like settings (`tls_ca_file`,
    `tls_cert`, `tls_key`, `allow_insecure`), or None for plain TCP. `role` is "client" or
    "worker". A plain address off this host is refused unless `allow_insecure`: whoever reaches
    a Dask scheduler can run code on every worker."""
    scheme, _, rest = address.partition("://")
    host = rest.rsplit(":", 1)[0].strip("[]")
    if scheme == "tls":
        if not (dask.tls_ca_file and dask.tls_cert and dask.tls_key):
            raise ConfigError(
                f"{address}: TLS needs a CA file, a certificate and its key",
                hint="set tls_ca_file, tls_cert and tls_key (docs/scale-out.md shows how to make them)",
            )
        distributed = import_distributed()
        files = {"tls_ca_file": str(dask.tls_ca_file), "require_encryption": True}
        files[f"tls_{role}_cert"] = str(dask.tls_cert)
        files[f"tls_{role}_key"] = str(dask.tls_key)
        return distributed.Security(**files)
    loopback = host in ("localhost", "::1") or host.startswith("127.")
    if not loopback and not dask.allow_insecure:
        raise ConfigError(
            f"{address}: a Dask scheduler on another host without TLS lets anyone who reaches it "
            "run code on the workers",
            hint="use a tls:// address with tls_ca_file, tls_cert and tls_key (docs/scale-out.md), "
            "or set allow_insecure = true on a network you trust",
        )
    return None


def _known_keys(keys: list[str], dask_scheduler=None) -> list[str]:
    """Run on the Dask scheduler: those of `keys` it has a task for."""
    return [key for key in keys if key in dask_scheduler.tasks]


def _no_retries(dask_scheduler=None) -> int:
    """Run on the Dask scheduler: a task whose worker died must fail, not run again elsewhere."""
    dask_scheduler.allowed_failures = 0
    return dask_scheduler.allowed_failures


@dataclass(eq=False)
class _Remote:
    launch: Launch
    future: Future | None  # None only while a recovered try waits for its first watch
    started: float  # monotonic
    host: str | None = None
    cancel_reason: str | None = None
    broken_at: float | None = None  # monotonic: when its watch broke (worker or Dask scheduler gone)
    next_look: float = 0.0
    watches: int = 0
    submitted: float = 0.0  # monotonic: when its Dask task was last submitted


class DaskExecutor(Executor):
    """See the module docstring. `lost_after` is seconds; `connect` a ready `distributed.Client`
    factory (for tests), else a client for `address` with `security` is made."""

    name = "dask"

    def __init__(
        self,
        address: str,
        *,
        security=None,
        lost_after: float = 30.0,
        start_timeout: float = 10.0,
        clock_monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._now = clock_monotonic
        self.lost_after = lost_after
        self._connect_args = (address, security, start_timeout)
        self._tries: dict[str, _Remote] = {}
        self._inbox: deque = deque()
        self._forget: dict[str, list[str]] = {}  # worker name -> attempt ids whose folder may go
        self._ended_on: dict[str, str] = {}  # ends reported, not yet recorded (`recorded`) -> worker name
        self._addresses: dict[str, str | None] = {}  # worker name -> address, as its tries last said
        self._forget_at = 0.0
        self._unplaced_at = 0.0
        self._doomed: dict[str, str] = {}  # tries cancelled before they were placed -> the reason
        self._late: dict[str, Path] = {}  # log files of tries just reported, for log events still on their way
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, self)
        self._scheduler_id: str | None = None
        self._connected_at = 0.0
        self.client = self._connect(start_timeout)

    def _connect(self, timeout: float):
        """A client for the Dask scheduler, told that a failed try must not run again (`_no_retries`) and
        subscribed to the tries' start and log events."""
        address, security, _ = self._connect_args
        client = import_distributed().Client(
            address, timeout=timeout, set_as_default=False, security=security, asynchronous=False
        )
        self._meet(client)
        return client

    def _meet(self, client) -> None:
        """What a (new or restarted) Dask scheduler must know of this client: no retries, our topics."""
        client.run_on_scheduler(_no_retries)
        client.subscribe_topic(LOG_TOPIC, self._on_log)
        client.subscribe_topic(START_TOPIC, self._on_started)
        self._scheduler_id = client.scheduler_info().get("id")
        self._addresses = {}  # workers that came back to a new Dask scheduler may listen elsewhere

    def _check_scheduler(self, now: float) -> None:
        """Once a second: a Dask scheduler that restarted does not know our subscriptions nor `_no_retries`
        (the client reconnects by itself, and cancels its tasks: their watches break and are taken up
        again); a client that gave up reconnecting is replaced, and every try is watched again through it."""
        if now < self._connected_at:
            return
        self._connected_at = now + RELOOK_INTERVAL
        if self.client.status == "running":
            if self.client.scheduler_info().get("id") != self._scheduler_id:
                with contextlib.suppress(Exception):
                    self._meet(self.client)
            return
        if self.client.status not in ("closing", "closed"):
            return  # reconnecting by itself
        with contextlib.suppress(Exception):
            client = self._connect(min(2.0, self._connect_args[2]))
            with contextlib.suppress(Exception):
                self.client.close(timeout=1)
            self.client = client
            for remote in self._tries.values():
                remote.broken_at = remote.next_look = now

    # -- the interface ------------------------------------------------------------

    def start(self, launch: Launch) -> Running:
        key = f"minorch-{launch.attempt_id}"
        remote = _Remote(launch, None, self._now())
        self._tries[launch.attempt_id] = remote
        self._submit(remote, self._payload(launch))
        return Running(launch.attempt_id, 0, 0.0, external_id=key)

    def poll(self) -> list[Exit | Running]:
        with contextlib.suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        out: list[Exit | Running] = []
        while self._inbox:
            kind, attempt_id, value = self._inbox.popleft()
            remote = self._tries.get(attempt_id)
            if remote is None and kind == "started" and attempt_id in self._doomed:
                # Taken back from Dask before it was placed, yet it started: stop it there.
                self._send_cancel_to(value["host"], attempt_id, self._doomed.pop(attempt_id))
            if remote is None:
                continue
            if kind == "started":
                remote.host = value["host"]
                self._addresses[remote.host] = value.get("address")
                out.append(Running(attempt_id, value.get("pid") or 0, value.get("ct") or 0.0, None, remote.host))
                if remote.cancel_reason is not None:
                    self._send_cancel(remote)
            elif kind == "done" and remote.future is not None and value is remote.future:
                reported = remote.host
                done = self._end_of(remote, remote.future)
                if done is not None and remote.host is not None and reported is None:
                    out.append(Running(attempt_id, done.pid, 0.0, None, remote.host))  # ended before it said where
                if done is not None:
                    out.append(done)
        now = self._now()
        self._check_scheduler(now)
        self._check_unplaced(now)
        for remote in list(self._tries.values()):
            if remote.broken_at is not None and now >= remote.next_look:
                done = self._relook(remote, remote.broken_at, now)
                if done is not None:
                    out.append(done)
        self._send_forgets(now)
        return out

    def wait(self, timeout: float | None) -> None:
        if self._inbox:
            return
        left = self.next_look()
        if left is not None:
            timeout = left if timeout is None else min(timeout, left)
        self._selector.select(timeout)

    def next_look(self) -> float | None:
        """Seconds until `poll` has work of its own (a try whose watch broke, or one still unplaced to
        ask the Dask scheduler about); None: only events."""
        if self._inbox:
            return 0.0
        looks = [r.next_look for r in self._tries.values() if r.broken_at is not None]
        if any(r.host is None and r.broken_at is None for r in self._tries.values()):
            looks.append(max(self._unplaced_at, min(r.submitted for r in self._tries.values()) + UNPLACED_AFTER))
        return max(0.0, min(looks) - self._now()) if looks else None

    def wakeup_fd(self) -> int:
        """A file descriptor that is readable when `poll` has news (drained by `poll`)."""
        return self._wake_r

    def add_wakeup_fd(self, fd: int) -> None:
        self._selector.register(fd, selectors.EVENT_READ, None)

    def remove_wakeup_fd(self, fd: int) -> None:
        self._selector.unregister(fd)

    def running(self) -> int:
        return len(self._tries)

    def cancel(self, attempt_id: str, reason: str) -> None:
        remote = self._tries.get(attempt_id)
        if remote is None or remote.cancel_reason is not None:
            return
        remote.cancel_reason = reason
        if remote.host is not None:
            self._send_cancel(remote)
        elif remote.future is not None:  # not on a worker yet: take it back from Dask; should it start
            remote.future.cancel()  # meanwhile, its start event cancels it

    def recover(self, tries: list[OpenTry], adopt: bool = True) -> list[Recovered]:
        """Watch each open try again on the worker named by its host (`Adopted`); a try that ended
        meanwhile comes back from that watch as a normal `Exit`. A try with no recorded host may have
        started on a worker whose word never reached the state file: each worker is asked
        (`find_or_fence`); where one claimed it, it is watched there, else every worker fences it so a
        late delivery never runs it, and it is `Lost` (never reached a worker). With ``adopt=False``
        tries are cancelled and answered `Lost`."""
        answers: list[Recovered] = []
        found = self._find_unplaced([t.launch.attempt_id for t in tries if not t.host])
        for open_try in tries:
            launch = open_try.launch
            host = open_try.host or found.get(launch.attempt_id)
            if not host:
                answers.append(Lost(launch.attempt_id, "interrupted before it reached a Dask worker"))
                continue
            remote = _Remote(launch, None, self._now() - open_try.elapsed, host=host)
            self._tries[launch.attempt_id] = remote
            killed = None if adopt else 'killed by the scheduler\'s restart (on_restart = "kill")'
            if killed is not None:
                remote.cancel_reason = killed
                self._send_cancel(remote)
            self._watch_again(remote, host)
            if killed is None:
                running = Running(launch.attempt_id, open_try.pid or 0, open_try.create_time or 0.0, None, host)
                answers.append(Adopted(launch.attempt_id, running))
            else:
                answers.append(Lost(launch.attempt_id, killed))
        if not adopt:
            deadline = self._now() + max((t.launch.grace for t in tries), default=0) + 5.0
            while any(self._tries.get(t.launch.attempt_id) for t in tries) and self._now() < deadline:
                self.wait(deadline - self._now())
                self.poll()
            for open_try in tries:
                self._tries.pop(open_try.launch.attempt_id, None)
        return answers

    def _find_unplaced(self, attempt_ids: list[str]) -> dict[str, str]:
        """{attempt id: worker name} for those of the tries (with no recorded host) a worker claimed; the
        others are fenced on every worker (`find_or_fence`)."""
        if not attempt_ids:
            return {}
        reason = "fenced: no worker had claimed it when the scheduler looked; it runs again"
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
            answers = self.client.run(find_or_fence, attempt_ids, reason)
        except Exception:  # noqa: BLE001 - no Dask scheduler: nothing can be placed on a worker now
            return {}
        names = {address: str(info.get("name")) for address, info in workers.items()}
        found: dict[str, str] = {}
        for address, ids in answers.items():
            for attempt_id in ids:
                found.setdefault(attempt_id, names.get(address, address))
        for address in answers:  # the fences of tries found elsewhere are not needed: delete them
            extra = [i for i in found if found[i] != names.get(address, address)]
            if extra:
                self._forget.setdefault(names.get(address, address), []).extend(extra)
        return found

    def shutdown(self, grace: float) -> list[Exit]:
        for attempt_id in list(self._tries):
            self.cancel(attempt_id, "cancelled by the scheduler shutting down")
        deadline = self._now() + grace + 5.0
        exits: list[Exit] = []
        while self._tries and self._now() < deadline:
            self.wait(deadline - self._now())
            exits += [e for e in self.poll() if isinstance(e, Exit)]
        for attempt_id, remote in list(self._tries.items()):
            del self._tries[attempt_id]
            exits.append(self._exit(remote, None, "did not report its end after being cancelled (worker unreachable?)"))
        self._send_forgets()
        return exits

    def detach(self) -> int:
        count = len(self._tries)
        self._tries.clear()
        self._send_forgets()
        return count

    def recorded(self, attempt_id: str) -> None:
        host = self._ended_on.pop(attempt_id, None)
        if host is not None:
            self._forget.setdefault(host, []).append(attempt_id)

    def close(self) -> None:
        self._send_forgets()  # of the ends recorded since the last poll (a shutdown's)
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(LOG_TOPIC)
            self.client.unsubscribe_topic(START_TOPIC)
        self.client.close(timeout=5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- Dask -----------------------------------------------------------------------

    def _payload(self, launch: Launch) -> dict:
        """What the worker needs, with this host's paths as placeholders it fills in: the
        interpreter, a Python task's spec and result files. The environment travels as the
        difference to this process's own (the worker's environment is the base there)."""
        spec = code = None
        placeholders = {sys.executable: "{python}"}
        if launch.spec_path is not None:
            document = json.loads(launch.spec_path.read_text())
            document["result_path"] = "{result}"
            spec = json.dumps(document)
            placeholders[str(launch.spec_path)] = "{spec}"
            path = code_file(document.get("target", {}))
            digest = file_digest(path) if path else None
            code = {"path": path, "sha256": digest} if digest else None
        env = {k: v for k, v in launch.env.items() if os.environ.get(k) != v and k != "MINORCH_STATUS_FILE"}
        return {
            "attempt_id": launch.attempt_id,
            "argv": [placeholders.get(arg, arg) for arg in launch.argv],
            "env": env,
            "unset": [k for k in os.environ if k not in launch.env],
            "cwd": launch.cwd,
            "timeout": launch.timeout,
            "grace": launch.grace,
            "log_cap": launch.log_cap,
            "lost_after": self.lost_after,
            "spec": spec,
            "code": code,
            "secrets": None if launch.secrets is None else list(launch.secrets),
        }

    def _submit(self, remote: _Remote, payload: dict, workers: list[str] | None = None) -> None:
        launch = remote.launch
        key = f"minorch-{launch.attempt_id}" + (f"-watch{remote.watches}" if remote.watches else "")
        resources = {f"queue-{launch.queue}": 1} if launch.queue else None
        future = self.client.submit(
            run_try, payload, key=key, pure=False, resources=resources, workers=workers, allow_other_workers=False
        )
        remote.future = future
        remote.submitted = self._now()
        attempt_id = launch.attempt_id
        future.add_done_callback(lambda f: self._post(("done", attempt_id, f)))

    def _watch_again(self, remote: _Remote, host: str) -> None:
        """Watch a try again on the worker named `host` (never starts it)."""
        remote.watches += 1
        remote.broken_at = None
        payload = {"attempt_id": remote.launch.attempt_id, "grace": remote.launch.grace, "watch_only": True}
        self._submit(remote, payload, workers=[host])

    def _relook(self, remote: _Remote, broken_at: float, now: float) -> Exit | None:
        """A try whose watch broke: watch it again once its worker is back, or call it lost."""
        remote.next_look = now + RELOOK_INTERVAL
        if remote.host is None:  # it broke before its worker said it started: did one claim it?
            attempt_id = remote.launch.attempt_id
            remote.host = self._find_unplaced([attempt_id]).get(attempt_id)
            if remote.host is not None:  # record where it runs, as its own start event would have
                self._post(("started", attempt_id, {"host": remote.host}))
        if remote.host is not None and remote.host in self._worker_names():
            self._watch_again(remote, remote.host)
            return None
        if now - broken_at >= self.lost_after + remote.launch.grace + 2.0:
            del self._tries[remote.launch.attempt_id]
            where = f"worker {remote.host}" if remote.host else "the Dask scheduler"
            return self._exit(remote, None, f"lost: {where} went away for more than {self.lost_after:g}s", lost=True)
        return None

    def _check_unplaced(self, now: float) -> None:
        """Tries still waiting for a worker after UNPLACED_AFTER: when the Dask scheduler no longer knows
        their task (it restarted, and the client's resubmission was lost), their watch is broken, and
        `_relook` finds them on a worker or, after `lost_after`, calls them lost. At most once a second."""
        if now < self._unplaced_at:
            return
        self._unplaced_at = now + RELOOK_INTERVAL
        waiting = {
            remote.future.key: remote
            for remote in self._tries.values()
            if remote.host is None
            and remote.broken_at is None
            and remote.future is not None
            and remote.future.status == "pending"
            and now - remote.submitted > UNPLACED_AFTER
        }
        if not waiting:
            return
        try:
            known = set(self.client.run_on_scheduler(_known_keys, list(waiting)))
        except Exception:  # noqa: BLE001 - the Dask scheduler is away: look again later
            return
        for key, remote in waiting.items():
            if key not in known:
                remote.broken_at = remote.next_look = now

    def _worker_names(self) -> set[str]:
        try:
            info = self.client.scheduler_info(n_workers=-1)
        except Exception:  # noqa: BLE001 - the Dask scheduler is away: no workers for now
            return set()
        return {str(w.get("name")) for w in info.get("workers", {}).values()}

    def _end_of(self, remote: _Remote, future: Future) -> Exit | None:
        """The Exit of `remote`'s finished Dask task `future`, or None when its watch broke (then `_relook`)."""
        attempt_id = remote.launch.attempt_id
        if future.status == "finished":
            try:
                end = future.result(timeout=GATHER_TIMEOUT)
            except Exception:  # noqa: BLE001 - its worker or the Dask scheduler went away before the end came back
                self._broke(remote)
                return None
            if end.get("refused"):
                del self._tries[attempt_id]
                _write_log(remote.launch.log_path, 0, f"minorch: {end['refused']}\n".encode())
                return self._exit(remote, 126, end["refused"])
            if end.get("elsewhere"):  # computed again on another worker after its own died: watched where it runs
                self._broke(remote)
                return None
            if end.get("missing"):
                del self._tries[attempt_id]
                return self._exit(remote, None, f"lost: it never reached worker {end.get('host')}", lost=True)
            remote.host = host = end["host"]  # every end `run_try` returns names the worker
            self._addresses[host] = end.get("address")
            offset, tail, restart = end.get("log") or (0, b"", False)
            _write_log(remote.launch.log_path, offset, tail, restart)
            del self._tries[attempt_id]
            self._late[attempt_id] = remote.launch.log_path
            while len(self._late) > LATE_KEPT:
                del self._late[next(iter(self._late))]
            self._ended_on[attempt_id] = host  # its folder stays until the scheduler recorded the end
            if end.get("exit") is None:
                return self._exit(remote, None, f"lost: {end.get('lost')}", lost=True)
            if end.get("result") is not None and remote.launch.result_path is not None:
                remote.launch.result_path.write_text(end["result"])
            facts = dict(end["exit"])
            lost = facts.pop("lost", False)
            return Exit(**{**facts, "attempt_id": attempt_id}, lost=lost)
        if remote.cancel_reason is not None and remote.host is None and future.status == "cancelled":
            del self._tries[attempt_id]  # taken back before it reached a worker
            self._doomed[attempt_id] = remote.cancel_reason
            return self._exit(remote, None, remote.cancel_reason, cancelled=True)
        error = _error_of(future) if future.status == "error" else None
        if error is not None:
            del self._tries[attempt_id]
            return self._exit(remote, 126, f"could not run on Dask: {error}")
        self._broke(remote)
        return None

    def _broke(self, remote: _Remote) -> None:
        """Its watch broke (its worker died, or the Dask scheduler restarted): `_relook` takes it up again;
        the try's end waits in its folder on the worker."""
        if remote.host is not None:
            self._addresses.pop(remote.host, None)  # a worker that comes back listens elsewhere
        remote.broken_at = self._now()
        remote.next_look = remote.broken_at

    def _exit(
        self, remote: _Remote, code: int | None, reason: str, *, cancelled: bool = False, lost: bool = False
    ) -> Exit:
        duration = self._now() - remote.started
        return Exit(remote.launch.attempt_id, 0, code, None, duration, False, cancelled, None, None, reason, lost=lost)

    def _send_cancel(self, remote: _Remote) -> None:
        if remote.cancel_reason is not None:
            self._send_cancel_to(remote.host, remote.launch.attempt_id, remote.cancel_reason)

    def _send_cancel_to(self, host: str | None, attempt_id: str, reason: str) -> None:
        address = self._address_of(host)
        if address is not None and not self._run_on(address, cancel_try, attempt_id, reason):
            fresh = self._address_of(host)  # asked of the Dask scheduler: the failed address is forgotten
            if fresh is not None and fresh != address:
                self._run_on(fresh, cancel_try, attempt_id, reason)

    def _run_on(self, address: str, function: Callable, *args: object) -> bool:
        """Run `function` in the worker at `address` (without waiting for its answer); False when that failed
        (the worker moved: a restarted worker listens on another port; the address is forgotten)."""
        try:
            self.client.run(function, *args, workers=[address], wait=False)
        except Exception:  # noqa: BLE001 - the worker or the Dask scheduler is away
            self._addresses = {name: a for name, a in self._addresses.items() if a != address}
            return False
        return True

    def _send_forgets(self, now: float | None = None) -> None:
        """Let workers delete the folders of recorded tries; at most once a second (`now`), or now."""
        if now is not None and now < self._forget_at:
            return
        self._forget_at = (now or 0.0) + FORGET_INTERVAL
        for host, ids in list(self._forget.items()):
            address = self._address_of(host)
            if address is not None and self._run_on(address, forget_try, ids):
                del self._forget[host]

    def _address_of(self, name: str | None) -> str | None:
        if name is None:  # a try not yet placed on a worker
            return None
        if self._addresses.get(name):
            return self._addresses[name]
        try:
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        except Exception:  # noqa: BLE001 - the Dask scheduler is away
            return None
        return next((addr for addr, w in workers.items() if str(w.get("name")) == name), None)

    # -- callbacks from the Dask client's thread -----------------------------------

    def _post(self, item: tuple) -> None:
        self._inbox.append(item)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    def _on_started(self, event: tuple) -> None:
        msg = event[1]
        self._post(("started", msg["id"], msg))

    def _on_log(self, event: tuple) -> None:
        msg = event[1]
        remote = self._tries.get(msg["id"])
        path = remote.launch.log_path if remote is not None else self._late.get(msg["id"])
        if path is not None:
            _write_log(path, msg["at"], msg["data"], msg.get("restart", False))


def code_file(target: dict) -> str | None:
    """The file a Python task's code comes from, on this host: its DAG file, or the module of a
    ``python = "pkg.mod:func"`` reference under the project folder (None when not found there).
    A worker runs the try only when its copy of that file is the same (`dask_worker._other_code`)."""
    if target.get("kind") == "dagfile":
        return target.get("path")
    module = str(target.get("ref", "")).partition(":")[0].replace(".", "/")
    for root in target.get("sys_path", []):
        for candidate in (Path(root) / f"{module}.py", Path(root) / module / "__init__.py"):
            if module and candidate.is_file():
                return str(candidate)
    return None


def _error_of(future) -> BaseException | None:
    """The error a failed Dask task raised itself; None when its worker died (KilledWorker) or the error
    cannot be fetched now (the Dask scheduler is away): then its watch is broken, not the try."""
    from distributed import KilledWorker

    try:
        error = future.exception(timeout=GATHER_TIMEOUT)
    except Exception:  # noqa: BLE001 - the Dask scheduler went away
        return None
    return None if isinstance(error, KilledWorker) else error


def _write_log(path: Path, offset: int, data: bytes, restart: bool = False) -> None:
    """Write `data` at `offset` of the local log file (0600 in 0700 folders), idempotently.
    `restart`: the worker's copy was cut back under its cap; so is this one, to `offset`."""
    if not data and not restart:
        return
    for parent in reversed(path.parents):
        if not parent.exists():
            with contextlib.suppress(FileExistsError):
                parent.mkdir(mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if restart:
            os.ftruncate(fd, offset)
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)
