"""The executor interface: what the scheduler asks of any place that runs tries, and the facts it gets back.

Two implementations exist: `local.LocalExecutor` (child processes of this process) and
`dask.DaskExecutor` (a detached supervisor on a Dask worker per try). The scheduler talks only
to `Executor`; `pick.executors_for` is the one place that chooses concrete classes.

A try goes: `start(launch)` -> `Running` (returned at once; `poll` may report a later `Running`
for the same try with more facts, e.g. the host it landed on) -> exactly one `Exit` from
`poll` or `shutdown`. After a scheduler restart, `recover(open tries)` answers each with
`Adopted` (still running: watched again, its `Exit` comes from `poll` as usual), `Ended`
(ended while no scheduler watched it) or `Lost` (no trace of its end: tried again, uncounted).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Launch:
    """What to run for one attempt.

    `env` is the full environment of the child; the executor adds
    ``MINORCH_ATTEMPT_ID=<attempt_id>`` (the marker `find_leftover` checks).
    Missing parents of `log_path` are created with mode 0700 and the file with
    0600; the file is opened for appending, so a retry may share it.
    `timeout` and `grace` are seconds of wall time; `log_cap` is bytes.
    `status_path` is where the try leaves its exit code (named by ``MINORCH_STATUS_FILE``
    in `env`); `spec_path`/`result_path` are a Python task's spec and result files. A local
    executor finds them through `env` and `argv`; a remote one ships them to the worker and back.
    `executor` names the executor that runs it ("local" or "dask"); `queue` the Dask worker
    resource it needs (None: any worker).
    `secrets`, when not None, sends the child's output through a masking relay
    (`minorch.executors.relay`) that writes it to the log with these values (and any
    the child registers on $MINORCH_MASK_FD) replaced by ``***`` (on a Dask worker, there).
    """

    attempt_id: str
    argv: list[str]
    env: dict[str, str]
    cwd: str | None
    log_path: Path
    timeout: float | None
    grace: float = 5.0
    log_cap: int = 10 * 2**20
    status_path: Path | None = None
    spec_path: Path | None = None
    result_path: Path | None = None
    executor: str = "local"
    queue: str | None = None
    secrets: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Running:
    """A try runs. ``pid == 0`` means it never started; its `Exit` comes with the next `poll`.
    `create_time` is psutil's ``Process.create_time()`` (epoch seconds) of `pid` on `host`.
    `external_id` is the executor's own name for the try (a Dask key); `host` where it runs
    (None: this host, or not known yet)."""

    attempt_id: str
    pid: int
    create_time: float
    external_id: str | None = None
    host: str | None = None


@dataclass(frozen=True)
class Exit:
    """How an attempt ended. Exactly one per started attempt.

    `returncode` is None when a signal ended the process (then `signal` says
    which); `duration` is seconds from start to reaping; `peak_rss` is bytes and
    `cpu_time` user+system seconds of the child and the children it waited for.
    `reason` is one sentence for the user: "exited with code 3",
    "timed out after 5s and was terminated", "killed by signal 9 (SIGKILL)".
    `lost` is True when the place that ran it went away (a Dask worker that did not come
    back): the scheduler tries it again without counting it.
    """

    attempt_id: str
    pid: int
    returncode: int | None
    signal: int | None
    duration: float
    timed_out: bool
    cancelled: bool
    peak_rss: int | None
    cpu_time: float | None
    reason: str
    lost: bool = False


@dataclass(frozen=True)
class OpenTry:
    """A try the store says runs, handed to `recover` after a restart: its launch (rebuilt by
    the scheduler: log, status and result paths, timeout, grace), the seconds it has run so far
    (`elapsed`, from the recorded start) and what its executor recorded when it started."""

    launch: Launch
    elapsed: float
    pid: int | None
    create_time: float | None
    external_id: str | None
    host: str | None


@dataclass(frozen=True)
class Adopted:
    """The try still runs and is watched again; its `Exit` comes from `poll`."""

    attempt_id: str
    running: Running


@dataclass(frozen=True)
class Ended:
    """The try ended while no scheduler watched it."""

    exit: Exit

    @property
    def attempt_id(self) -> str:
        return self.exit.attempt_id


@dataclass(frozen=True)
class Lost:
    """Nothing runs the try any more and nothing says how it ended (or it was killed at the
    restart): the scheduler tries it again without counting it. `reason` is for the user."""

    attempt_id: str
    reason: str


Recovered = Adopted | Ended | Lost


class Executor(ABC):
    """Runs tries and reports facts; decides nothing. One thread (the scheduler loop) calls every
    method, except where a method says otherwise."""

    name: str  # "local" or "dask": recorded with each try
    isolation = "the process tree"  # how a stopped try's processes are found, said once at start-up

    @abstractmethod
    def start(self, launch: Launch) -> Running:
        """Start `launch` now. A start that fails does not raise: it returns ``pid == 0`` and the
        next `poll` reports its `Exit` (code 127 for a missing command, 126 otherwise)."""

    def start_all(self, launches: Sequence[Launch]) -> list[Running]:
        """`start` each of `launches`, in order; an executor may overlap their starts."""
        return [self.start(launch) for launch in launches]

    @abstractmethod
    def poll(self) -> Sequence[Exit | Running]:
        """Never blocks: each started try's `Exit` once, and `Running` for tries with new facts."""

    @abstractmethod
    def wait(self, timeout: float | None) -> None:
        """Block until `poll` has something, a wakeup fd is readable, or `timeout` seconds pass."""

    @abstractmethod
    def add_wakeup_fd(self, fd: int) -> None:
        """Make `wait` also return when `fd` is readable. The caller drains it."""

    @abstractmethod
    def remove_wakeup_fd(self, fd: int) -> None: ...

    @abstractmethod
    def running(self) -> int:
        """Tries started (or adopted) whose `Exit` has not been returned yet."""

    @abstractmethod
    def cancel(self, attempt_id: str, reason: str) -> None:
        """Stop that try's whole tree (SIGTERM, its grace, SIGKILL); its `Exit` has
        ``cancelled=True`` and `reason`. Unknown or already reported ids are ignored."""

    @abstractmethod
    def recover(self, tries: list[OpenTry], adopt: bool = True) -> list[Recovered]:
        """One answer per try left open by an earlier scheduler. With ``adopt=False`` a try that
        still runs is killed (tree and all) and answered `Lost`."""

    @abstractmethod
    def recorded(self, attempt_id: str) -> None:
        """The scheduler has recorded that try's end (or it never started): what the executor kept so
        that a restarted scheduler could still read the end may go now, and not before."""

    @abstractmethod
    def shutdown(self, grace: float) -> list[Exit]:
        """Cancel every try, SIGKILL what is left after `grace` seconds, return every pending Exit."""

    @abstractmethod
    def detach(self) -> int:
        """Stop watching every running try and leave it running, for the next scheduler to adopt.
        Returns how many were left running."""

    @abstractmethod
    def close(self) -> None:
        """Release resources; call once nothing runs any more (after `shutdown` or `detach`)."""
