"""The one place that picks concrete executors from the settings, and `Placement`, which sends
each try to the executor its task names (``executor = "local" | "dask"``, default
``[minorch] executor``).

The Dask executor is made (and its client connected) only when something uses it: at start-up
when ``[minorch] executor = "dask"``, else at the first try or recovery that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import ConfigError
from .base import Adopted, Executor, Exit, Launch, OpenTry, Recovered, Running
from .local import LocalExecutor

if TYPE_CHECKING:
    from .dask import DaskExecutor


def make_dask(settings: Settings) -> DaskExecutor:
    """A DaskExecutor for [executor.dask]; ConfigError (one line) when it is missing, insecure or unreachable."""
    from .dask import DaskExecutor, import_distributed, security_for

    import_distributed()
    dask = settings.dask
    if dask is None:
        raise ConfigError(
            'a task uses executor = "dask", but minorch.toml has no [executor.dask] table',
            file=str(settings.config_file),
            hint='add [executor.dask] with address = "tcp://127.0.0.1:8786"',
        )
    security = security_for(dask.address, dask)
    try:
        return DaskExecutor(
            dask.address, security=security, lost_after=dask.worker_lost_after, start_timeout=dask.start_timeout
        )
    except OSError as err:
        raise ConfigError(
            f"cannot reach the Dask scheduler at {dask.address}: {err}",
            hint="start it (`dask scheduler`, docs/scale-out.md) or fix [executor.dask] address",
        ) from None


class Placement(Executor):
    """An executor that routes each try to the local or the Dask executor, as its launch says.
    Waiting happens in the local executor's selector, with the Dask executor's wakeup pipe in it."""

    name = "placement"

    def __init__(
        self, settings: Settings, local: LocalExecutor, make: Callable[[Settings], DaskExecutor] = make_dask
    ) -> None:
        self.settings = settings
        self.local = local
        self._make = make
        self.remote: DaskExecutor | None = None
        self._where: dict[str, Executor] = {}

    @property
    def isolation(self) -> str:  # type: ignore[override]
        return self.local.isolation

    def connect(self) -> DaskExecutor:
        """The Dask executor, made on first use."""
        if self.remote is None:
            self.remote = self._make(self.settings)
            self.local.add_wakeup_fd(self.remote.wakeup_fd())
        return self.remote

    def _for(self, executor: str) -> Executor:
        return self.connect() if executor == "dask" else self.local

    def start(self, launch: Launch) -> Running:
        try:
            executor = self._for(launch.executor)
        except ConfigError as err:
            return self.local.refuse(launch, 126, f"could not start on Dask: {err}")
        self._where[launch.attempt_id] = executor
        return executor.start(launch)

    def start_all(self, launches: Sequence[Launch]) -> list[Running]:
        """`start` each of `launches`; the local ones together (`LocalExecutor.start_all`)."""
        local = [launch for launch in launches if launch.executor != "dask"]
        for launch in local:
            self._where[launch.attempt_id] = self.local
        started = {running.attempt_id: running for running in self.local.start_all(local)}
        return [started.get(launch.attempt_id) or self.start(launch) for launch in launches]

    def poll(self) -> list[Exit | Running]:
        out: list[Exit | Running] = [*self.local.poll()]
        if self.remote is not None:
            out += self.remote.poll()
        for item in out:
            if isinstance(item, Exit):
                self._where.pop(item.attempt_id, None)
        return out

    def wait(self, timeout: float | None) -> None:
        if self.remote is not None:
            left = self.remote.next_look()
            if left is not None:
                timeout = left if timeout is None else min(timeout, left)
        self.local.wait(timeout)

    def add_wakeup_fd(self, fd: int) -> None:
        self.local.add_wakeup_fd(fd)

    def remove_wakeup_fd(self, fd: int) -> None:
        self.local.remove_wakeup_fd(fd)

    def running(self) -> int:
        return self.local.running() + (self.remote.running() if self.remote is not None else 0)

    def cancel(self, attempt_id: str, reason: str) -> None:
        executor = self._where.get(attempt_id)
        if executor is not None:
            executor.cancel(attempt_id, reason)

    def recover(self, tries: list[OpenTry], adopt: bool = True) -> list[Recovered]:
        answers: list[Recovered] = []
        for name in ("local", "dask"):
            mine = [t for t in tries if t.launch.executor == name]
            if mine:
                executor = self._for(name)
                found = executor.recover(mine, adopt)
                for answer in found:
                    if isinstance(answer, Adopted):
                        self._where[answer.attempt_id] = executor
                answers += found
        return answers

    def recorded(self, attempt_id: str) -> None:
        if self.remote is not None:
            self.remote.recorded(attempt_id)

    def shutdown(self, grace: float) -> list[Exit]:
        exits = self.remote.shutdown(grace) if self.remote is not None else []
        return exits + self.local.shutdown(grace)

    def detach(self) -> int:
        count = self.local.detach()
        if self.remote is not None:
            count += self.remote.detach()
        self._where.clear()
        return count

    def close(self) -> None:
        if self.remote is not None:
            self.local.remove_wakeup_fd(self.remote.wakeup_fd())
            self.remote.close()
        self.local.close()


def executor_for(settings: Settings, clock_monotonic: Callable[[], float]) -> Executor:
    """What runs the tries of a scheduler with these settings: a `Placement` over a local executor,
    connected to Dask at once when Dask is the default (so a wrong address is one line at start-up)."""
    from .cgroups import TryGroups

    placement = Placement(settings, LocalExecutor(clock_monotonic, groups=TryGroups.probe(settings.state_dir)))
    if settings.executor == "dask":
        placement.connect()
    return placement
