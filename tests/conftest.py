"""Shared fixtures: a project folder on disk, and ways to run minorch in it.

`project` hands over a `Project`: a tmp folder with a minorch.toml (state in .minorch/,
DAGs in dags/, grace 0.5 s so stopped tries end quickly) and helpers to write DAG files,
run ``python -m minorch`` there, run a DAG in this process with the real scheduler and
executor, and read the state file. `survivors` finds task processes that outlived their try.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import psutil
import pytest
from cli_fork import CliForker, Forked

import minorch
from minorch.config import Settings, load_settings
from minorch.foreground import RunResult, run_foreground
from minorch.records import Attempt
from minorch.registry import load
from minorch.store import Store

# The folder the minorch under test was imported from: the source tree, or site-packages when the
# suite runs against an installed wheel. Child processes get it first on PYTHONPATH: same code.
MINORCH_HOME = str(Path(minorch.__file__).resolve().parent.parent)


def child_env(**changes: str) -> dict[str, str]:
    """This process's environment for a child that imports minorch, with `changes` applied."""
    env = {**os.environ, **changes}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [MINORCH_HOME, env.get("PYTHONPATH")]))
    return env


_forker: list[CliForker] = []


def _forker_for(env: dict[str, str]) -> CliForker | None:
    """The warm process that forks `minorch` commands (`cli_fork`), when it can run one with `env`;
    None with MINORCH_TEST_EXEC=1."""
    if os.environ.get("MINORCH_TEST_EXEC") == "1":
        return None
    if not _forker:
        _forker.append(CliForker(child_env()))
    return _forker[0] if _forker[0].serves(env) else None


def minorch_command(args: list[str], *, cwd, env: dict[str, str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """``python -m minorch ARGS`` to its end, output captured as text: forked from a warm process (`cli_fork`),
    or started the usual way with MINORCH_TEST_EXEC=1."""
    forker = _forker_for(env)
    if forker is not None:
        return forker.run(args, cwd=cwd, env=env, timeout=timeout)
    command = [sys.executable, "-m", "minorch", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def pytest_sessionfinish() -> None:
    for forker in _forker:
        forker.close()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """`minorch dags` keeps loaded DAG files in $XDG_CACHE_HOME/minorch: the suite's children keep
    theirs in a temporary folder, not in the user's cache."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


def pytest_report_header() -> str:
    return f"minorch {minorch.__version__} from {MINORCH_HOME}"


CONFIG = """\
[minorch]
state_dir = ".minorch"
dag_folders = ["dags"]
parallelism = 4
grace = "0.5s"
{minorch}
[defaults]
retry_delay = "0s"
{defaults}
"""


@dataclass
class Project:
    root: Path
    lines: list[str] = field(default_factory=list)  # event lines printed by the latest in-process run

    def configure(self, minorch: str = "", defaults: str = "") -> None:
        """Rewrite minorch.toml with extra lines in its [minorch] and [defaults] tables."""
        (self.root / "minorch.toml").write_text(CONFIG.format(minorch=minorch, defaults=defaults))

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def settings(self) -> Settings:
        return load_settings(self.root / "minorch.toml")

    def run(self, dag_id: str, date: str | None = "2024-01-15", params: dict | None = None) -> RunResult:
        """One foreground run of `dag_id` in this process: real scheduler, real child processes."""
        settings = self.settings()
        registry = load(settings)
        assert not registry.errors, [str(e) for e in registry.errors]
        self.lines = []
        return run_foreground(settings, registry, registry.dags[dag_id], date, params or {}, self.lines.append)

    def minorch(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """``python -m minorch ARGS`` in the project folder (forked by `cli_fork`); text output captured."""
        return minorch_command(list(args), cwd=self.root, env=self.env(), timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        """``python -m minorch ARGS`` in the background, in its own process group (as a shell job)."""
        return subprocess.Popen(
            [sys.executable, "-m", "minorch", *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def env(self) -> dict[str, str]:
        env = child_env()
        env.pop("MINORCH_CONFIG", None)
        return env

    def store(self) -> Store:
        return Store(self.root / ".minorch" / "minorch.db")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = Project(tmp_path)
    made.configure()
    (tmp_path / "dags").mkdir()
    return made


@pytest.fixture
def survivors():
    """A function: the processes still running among `pids` and those carrying one of
    `attempt_ids` as their MINORCH_ATTEMPT_ID. A zombie counts as gone (init may reap late)."""

    def find(pids: list[int] = (), attempt_ids: set[str] = frozenset()) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if proc.pid in pids or (attempt_ids and proc.environ().get("MINORCH_ATTEMPT_ID") in attempt_ids):
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return found

    return find


class Up:
    """`minorch up --no-ui --log-format json` running in a project; its log lines as dicts."""

    def __init__(self, project, env: dict[str, str] | None = None, fresh: bool = False) -> None:
        """`fresh`: a new interpreter (as a service manager starts it), for tests that need its real
        start-up, such as a SIGKILL before it is ready; else forked from a warm process."""
        self.started = time.monotonic()
        args, env = ["up", "--no-ui", "--log-format", "json"], env or project.env()
        forker = None if fresh else _forker_for(env)
        self.proc: subprocess.Popen | Forked
        if forker is not None:  # forked from a warm process: a real `up` of its own, without the interpreter's start
            self.proc = forker.start(args, cwd=project.root, env=env)
        else:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "minorch", *args],
                cwd=project.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        self.events: list[dict] = []
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"message": line.rstrip()})

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 10.0) -> dict:
        found = wait_until(lambda: next((e for e in self.events if predicate(e)), None), timeout)
        assert found, f"no such log line; got {[e.get('message') for e in self.events]} {self.stderr}"
        return found

    def ready(self) -> dict:
        return self.wait_for(lambda e: e.get("event") == "ready")

    def signal(self, sig: int, timeout: float = 15.0) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def wait_until(check: Callable[[], object], timeout: float = 10.0, every: float = 0.01):
    """The first truthy value of `check()` within `timeout` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


@pytest.fixture
def up_processes():
    """Starts `Up`s and makes sure none outlives the test."""
    started: list[Up] = []

    def start(project, env=None, fresh=False) -> Up:
        started.append(Up(project, env, fresh))
        return started[-1]

    yield start
    for up in started:
        if up.proc.poll() is None:
            up.proc.kill()
            up.proc.wait()


def try_row(attempt_id: str, run_pk: int, task_id: str, start: float, **fields) -> Attempt:
    """A try as the scheduler records it when it launches one (first try, not mapped, counted), with
    any other field of `minorch.records.Attempt` given by name."""
    row = Attempt(attempt_id, run_pk, task_id, -1, 1, *[None] * 2, start, *[None] * 4, False, True, *[None] * 6)
    return replace(row, **fields)


def run_all(ex, limit: float = 5.0) -> dict:
    """Wait and poll an executor until every started attempt is reported; each exactly once."""
    exits: dict = {}
    deadline = time.monotonic() + limit
    while ex.running():
        assert time.monotonic() < deadline, "tries did not finish in time"
        ex.wait(deadline - time.monotonic())
        for done in ex.poll():
            if not hasattr(done, "returncode"):
                continue  # a Running record: where a try runs, not how it ended
            assert done.attempt_id not in exits, "reported twice"
            exits[done.attempt_id] = done
    return exits


def running(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `procs` still running; a zombie is dead (this host's init may reap late)."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


PICTURES_DAG = """
[dags.pics]
description = "parallel tasks, a retry and a mapped task"

[dags.pics.tasks.start]
command = "sleep 0.2"
[dags.pics.tasks.left]
command = "sleep 0.6"
after = ["start"]
[dags.pics.tasks.flaky]
command = "test -f flag || { touch flag; exit 1; }; sleep 0.2"
after = ["start"]
retries = 1
retry_delay = "1s"
[dags.pics.tasks.parts]
command = "sleep 0.{{ item }}"
map_over = [1, 2, 3]
after = ["start"]
[dags.pics.tasks.finish]
command = "true"
after = ["left", "flaky", "parts"]
"""


@pytest.fixture
def picture_run(project) -> RunResult:
    """One real run of DAG `pics`: `left`, `flaky` and the copies of `parts` run in parallel after
    `start`; `flaky` fails its first try and succeeds after a 1 s retry delay; `finish` joins them."""
    project.write("dags/pics.toml", PICTURES_DAG)
    result = project.run("pics", date=None)
    assert result.run.state.value == "success", result.tis
    return result


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """One real Dask scheduler and two `minorch worker` processes (host0, host1) on 127.0.0.1,
    shared by the tests of a module that only submit tries (fault tests make their own). Stopped
    after the module: an idle cluster costs about 9 % of a core (heartbeats and monitors), which kept
    for the rest of a session was a tenth of the suite's CPU."""
    pytest.importorskip("distributed")
    from dask_cluster import DaskCluster

    cluster = DaskCluster(tmp_path_factory.mktemp("dask")).start()
    yield cluster
    cluster.stop()
