"""minorch on Dask: real `minorch up`/`minorch run` with tasks on two `minorch worker` processes
(each with its own folder standing in for a host), a real Dask scheduler, real kills.

The fault tests (marked `dask`, run with ``pytest -m dask``) make a cluster of their own and kill
minorch, a worker or the Dask scheduler with SIGKILL while tries run; every task's side effect
must happen once where it succeeded, and no process carrying a try's attempt id may be left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from conftest import run_all, wait_until
from dask_cluster import DaskCluster

from minorch.states import RunState

pytest.importorskip("distributed")

MODULE = """\
def give(ds):
    print("giving", ds)
    return {"ds": ds, "n": 3}
"""

PIPELINE = """\
[dags.remote]
executor = "dask"

[dags.remote.tasks.flaky]
command = "echo try $MINORCH_TRY_NUMBER; test -e flaky.once || { touch flaky.once; exit 3; }"
retries = 1
retry_delay = "0s"

[dags.remote.tasks.give]
python = "helpers:give"
after = ["flaky"]

[dags.remote.tasks.slow]
command = "setsid sleep 300 & sleep 300"
timeout = "1s"
grace = "0.3s"
after = ["flaky"]

[dags.remote.tasks.home]
command = "echo here"
executor = "local"
after = ["give"]
"""


def use_dask(project, cluster, extra: str = "", dask: str = "") -> None:
    """Configure the project for `cluster`: lines `extra` in [minorch], `dask` in [executor.dask]."""
    project.configure(minorch=f'executor = "dask"\n{extra}\n[executor.dask]\naddress = "{cluster.address}"\n{dask}\n')


def test_a_run_on_dask_retries_returns_results_times_out_trees_and_streams_logs(project, dask_cluster, survivors):
    use_dask(project, dask_cluster)
    project.write("helpers.py", MODULE)
    project.write("dags/remote.toml", PIPELINE)
    result = project.run("remote")
    assert result.run.state is RunState.FAILED  # `slow` timed out
    states = {tid: ti.state.value for tid, ti in result.tis.items()}
    assert states["flaky"] == "success", [(a.reason, a.host) for a in result.attempts["flaky"]]
    assert states == {"flaky": "success", "give": "success", "slow": "failed", "home": "success"}
    flaky = result.attempts["flaky"]
    assert [(a.exit_code, a.executor) for a in flaky] == [(3, "dask"), (0, "dask")]
    assert all(a.host in ("host0", "host1") for a in flaky)
    assert [Path(a.log_path).read_text() for a in flaky] == ["try 1\n", "try 2\n"]
    [give] = result.attempts["give"]
    assert "giving 2024-01-15" in Path(give.log_path).read_text()
    store = project.store()
    assert store.xcoms(result.run.pk, ["give"])["give"] == {"ds": "2024-01-15", "n": 3}
    [slow] = result.attempts["slow"]
    assert slow.timed_out and slow.reason == "timed out after 1s and was terminated"
    [home] = result.attempts["home"]
    assert (home.executor, home.host) == ("local", None)
    assert survivors([], {a.attempt_id for tries in result.attempts.values() for a in tries}) == []
    store.close()


def test_executor_dask_without_a_reachable_address_is_one_line(project):
    project.configure(minorch='executor = "dask"\n[executor.dask]\naddress = "tcp://10.255.255.1:8786"\n')
    project.write("dags/remote.toml", "[dags.d]\n[dags.d.tasks.t]\ncommand = 'true'\n")
    done = project.minorch("run", "d")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "allow_insecure" in done.stderr, done.stderr


def test_a_try_whose_worker_dies_holding_its_end_is_not_run_again_on_another_worker(tmp_path, dask_cluster):
    """Dask computes a finished task again when the worker holding its result dies before the result was
    fetched. The recomputation on the other worker must not start the try a second time: its end is read
    on its own host once that worker is back."""
    from minorch.executors.base import Launch
    from minorch.executors.dask import DaskExecutor

    cluster = dask_cluster  # whole again at the end: the worker killed here is started again
    ex = DaskExecutor(cluster.address, lost_after=30.0)
    ledger = tmp_path / "ledger"
    try:
        script = f"echo ran >> {ledger}"
        launch = Launch("once-1", ["/bin/sh", "-c", script], dict(os.environ), None, tmp_path / "once-1.log", None)
        key = ex.start(launch).external_id
        # Not polled yet: the end waits on the worker that ran it.
        ended = wait_until(lambda: ex.client.who_has().get(key), timeout=30)
        assert ended and ledger.read_text() == "ran\n"
        [host] = [n for n in cluster.names if (cluster.folder(n) / "tries" / "once-1" / "exit.json").exists()]
        cluster.kill_worker(host)

        def elsewhere() -> bool:
            names = {a: w["name"] for a, w in ex.client.scheduler_info(n_workers=-1)["workers"].items()}
            return any(names.get(address) not in (None, host) for address in ex.client.who_has().get(key, ()))

        assert wait_until(elsewhere, timeout=30)  # Dask computed it again on the other worker
        cluster.start_worker(host)
        done = run_all(ex, limit=60.0)["once-1"]
        assert (done.returncode, done.reason) == (0, "exited with code 0")
        assert ledger.read_text() == "ran\n"
    finally:
        ex.shutdown(0.1)
        ex.close()
        for name in set(cluster.names) - set(cluster.workers):
            cluster.start_worker(name)
        cluster.wait_workers(len(cluster.names))


def test_a_tries_folder_stays_on_its_worker_until_its_end_is_recorded(tmp_path, dask_cluster):
    """A restarted scheduler reads the end of a try whose end it never recorded from the try's folder on
    its worker. So the folder must stay there until the scheduler says the end is recorded: once it went
    when the end was reported, and a SIGKILL of `minorch up` between the report and the record (within
    milliseconds) made the next `up` find nothing, call the try lost and run it a second time."""
    from minorch.executors.base import Adopted, Launch, OpenTry
    from minorch.executors.dask import DaskExecutor

    ledger = tmp_path / "ledger"
    argv = ["/bin/sh", "-c", f"echo ran >> {ledger}"]
    launch = Launch("kept-1", argv, dict(os.environ), None, tmp_path / "log", None)
    first = DaskExecutor(dask_cluster.address, lost_after=30.0)
    try:
        first.start(launch)
        assert run_all(first, limit=60.0)["kept-1"].returncode == 0
        until = time.monotonic() + 2.5  # folders of recorded ends go at most once a second: give it two chances
        while time.monotonic() < until:
            first.poll()
            time.sleep(0.05)
        # The scheduler said nothing: it may yet be killed before it records the end.
        kept = [n for n in dask_cluster.names if (dask_cluster.folder(n) / "tries" / "kept-1" / "exit.json").exists()]
        assert len(kept) == 1, "the try's end is gone from its worker before the scheduler recorded it"
        host, folder = kept[0], dask_cluster.folder(kept[0]) / "tries" / "kept-1"
    finally:
        first.detach()
        first.close()
    again = DaskExecutor(dask_cluster.address, lost_after=30.0)  # the restarted scheduler
    try:
        [answer] = again.recover([OpenTry(launch, 1.0, None, None, None, host)])
        assert isinstance(answer, Adopted)
        done = run_all(again, limit=60.0)["kept-1"]
        assert (done.returncode, done.reason, done.lost) == (0, "exited with code 0", False)
        assert ledger.read_text() == "ran\n"
        again.recorded("kept-1")
        assert wait_until(lambda: again.poll() == [] and not folder.exists(), timeout=10)
    finally:
        again.shutdown(0.1)
        again.close()


PYJOB = """\
from minorch import DAG, task

with DAG("pyjob", executor="dask", retries=0):
    @task
    def work():
        open("ran_{version}", "w").write("{version}")
        return "{version}"

    work()
"""


def test_a_worker_whose_copy_of_the_dag_file_differs_refuses_the_try(project, tmp_path, survivors):
    """The worker (in a mount namespace of its own, standing in for another host) sees another version of
    dags/pyjob.py at the same path: it refuses the try with one line, and neither version's code runs."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs unshare -m (root) to give the worker its own view of the project folder")
    dag_file = project.write("dags/pyjob.py", PYJOB.format(version="scheduler_host"))
    other = project.write("elsewhere/pyjob.py", PYJOB.format(version="worker_host"))
    cluster = DaskCluster(tmp_path / "hosts", workers=0)
    cluster.start_scheduler()
    worker = [sys.executable, "-m", "minorch", "worker", cluster.address, "--dir", str(tmp_path / "hosts" / "host0")]
    proc = subprocess.Popen(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f'mount --bind "{other}" "{dag_file}" && exec "$@"',
            "sh",
            *worker,
            "--name",
            "host0",
        ],
        env=cluster.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cluster.workers["host0"] = proc
    try:
        cluster.wait_workers(1)
        use_dask(project, cluster)
        result = project.run("pyjob")
        [attempt] = result.attempts["work"]
        assert result.tis["work"].state.value == "failed" and attempt.host is None
        assert attempt.reason.startswith(f"refused on host0: its copy of {dag_file} differs (sha256 ")
        assert attempt.reason.endswith("from the scheduler host's; deploy the same project folder to every worker host")
        assert "minorch: refused on host0" in Path(attempt.log_path).read_text()
        assert not list(project.root.glob("ran_*"))  # neither version ran
        dag_file.write_text(other.read_text())  # deployed: the same file on both "hosts"
        again = project.run("pyjob", date="2024-01-16")
        assert again.tis["work"].state.value == "success", again.attempts["work"][0].reason
        assert (project.root / "ran_worker_host").exists()
    finally:
        cluster.stop()


LOCAL_UP = """\
[dags.d]
[dags.d.tasks.remote]
command = "echo remote"
[dags.d.tasks.home]
command = "echo home"
executor = "local"
after = ["remote"]
"""


def _cluster_of(up) -> list[psutil.Process]:
    """The Dask scheduler and the workers `up --dask-local` started (its direct children)."""
    with contextlib.suppress(psutil.Error):
        return psutil.Process(up.pid).children()
    return []


def test_up_dask_local_runs_tasks_on_a_cluster_of_its_own_and_stops_it_with_itself(project, survivors):
    """`minorch up --dask-local 2`: a Dask scheduler and two workers start with `up`; tasks run on them (the
    host column says where); a SIGTERM to `up` stops them, and a SIGKILL of `up` takes them down too."""
    from conftest import running

    project.write("dags/d.toml", LOCAL_UP)
    up = project.start("up", "--no-ui", "--dask-local", "2")
    started: list[psutil.Process] = []
    try:
        assert wait_until(lambda: len(_cluster_of(up)) == 3, timeout=60), up.stderr
        started = _cluster_of(up)
        assert project.minorch("trigger", "d").returncode == 0
        store = project.store()
        assert wait_until(lambda: store.runs("d")[0].state.finished, timeout=60)
        assert store.runs("d")[0].state is RunState.SUCCESS
        store.close()
        listed = project.minorch("tasks", "d", "latest").stdout.splitlines()
        assert listed[1].split()[:6] == ["task", "state", "tries", "duration", "exit", "host"]
        hosts = {line.split()[0]: line.split()[5] for line in listed[3:]}
        assert hosts["remote"] in ("local0", "local1") and hosts["home"] == "-"
        assert (project.root / ".minorch" / "dask-local" / "local0").is_dir()
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        assert wait_until(lambda: not running(started), timeout=30), running(started)
        # a SIGKILL of `up` leaves no cluster behind either
        up = project.start("up", "--no-ui", "--dask-local", "1")
        assert wait_until(lambda: len(_cluster_of(up)) == 2, timeout=60)
        started = _cluster_of(up)
        up.kill()
        up.wait(10)
        assert wait_until(lambda: not running(started), timeout=30), running(started)
    finally:
        for proc in [*started, *(_cluster_of(up) if up.poll() is None else [])]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if up.poll() is None:
            up.kill()
            up.wait(10)


WIDE = """\
[dags.wide]
executor = "dask"
"""
# Each try's start goes in the ledger, and with its attempt id, pid, parent (its supervisor) and clock in
# the trace, for a failure's story.
TRACE = "echo start $MINORCH_TASK_ID $MINORCH_ATTEMPT_ID $$ $PPID $(date +%s.%N) >> trace"
WIDE_TASK = (
    """
[dags.wide.tasks.t{index:02d}]
command = "echo start $MINORCH_TASK_ID >> ledger; """
    + TRACE
    + """; sleep {pause}; echo done $MINORCH_TASK_ID >> ledger"
"""
)


class Fault:
    """A project whose DAG `wide` runs `tasks` parallel tries on a cluster of its own."""

    def __init__(self, project, tmp_path, tasks: int = 8, pause: float = 3.0, lost_after: str = "30s") -> None:
        self.project = project
        self.cluster = DaskCluster(tmp_path / "hosts").start()
        use_dask(project, self.cluster, dask=f'worker_lost_after = "{lost_after}"')
        config = project.root / "minorch.toml"
        config.write_text(config.read_text().replace("parallelism = 4", "parallelism = 8"))
        project.write("dags/wide.toml", WIDE + "".join(WIDE_TASK.format(index=i, pause=pause) for i in range(tasks)))
        self.tasks = [f"t{i:02d}" for i in range(tasks)]
        assert project.minorch("trigger", "wide").returncode == 0
        self.store = project.store()
        [self.run] = self.store.runs("wide")

    def placed(self) -> dict[str, str]:
        """task id -> host of its open try, for tries that reached a worker."""
        return {a.task_id: a.host for a in self.store.open_attempts() if a.host}

    def done(self) -> int:
        return sum(line.startswith("done ") for line in self.ledger())

    def leftovers(self) -> list[psutil.Process]:
        """Processes of this cluster's "hosts" other than the workers and their zygotes: supervisors or tries
        left behind (a supervisor is a fork of its worker, so it carries the worker's --dir on its command line)."""
        workers = {proc.pid for proc in self.cluster.workers.values()}
        found = []
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.status() == psutil.STATUS_ZOMBIE or proc.pid in workers or proc.ppid() in workers:
                    continue
                if any(str(self.cluster.base) in arg for arg in proc.cmdline()):
                    found.append(proc)
        return found

    def ledger(self) -> list[str]:
        path = self.project.root / "ledger"
        return path.read_text().splitlines() if path.exists() else []

    def finish(self, up) -> None:
        assert wait_until(lambda: self.store.run(self.run.pk).state.finished, timeout=60), self.ledger()
        assert up.signal(signal.SIGTERM) == 0

    def attempts(self) -> dict[str, list]:
        found: dict[str, list] = {}
        for attempt in self.store.attempts(self.run.pk):
            found.setdefault(attempt.task_id, []).append(attempt)
        return found

    def close(self) -> None:
        """Stop the cluster, and the tries a test left running (their supervisors then end)."""
        ids = {a.attempt_id for a in self.store.attempts(self.run.pk)}
        self.store.close()
        self.cluster.stop()
        for proc in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get("MINORCH_ATTEMPT_ID") in ids:
                    proc.kill()


@pytest.fixture
def fault(project, tmp_path):
    made: list[Fault] = []

    def make(**options) -> Fault:
        made.append(Fault(project, tmp_path, **options))
        return made[-1]

    yield make
    for each in made:
        each.close()


def done_once(fault: Fault) -> None:
    done = Counter(line for line in fault.ledger() if line.startswith("done "))
    assert done == Counter({f"done {t}": 1 for t in fault.tasks}), fault.ledger()


def story(f: Fault, ups: list | None = None) -> str:
    """The ledger and every try (outcome, counted, host, reason), for a failure's message; for a try that did
    not succeed, what its folder on each host holds; and what each `minorch up` in `ups` logged above info."""
    tries = [
        f"{t}: " + "; ".join(f"{a.outcome} {a.counted} {a.host} {a.reason}" for a in ts)
        for t, ts in sorted(f.attempts().items())
    ]
    for attempt in [a for ts in f.attempts().values() for a in ts if a.outcome != "success"]:
        for name in f.cluster.names:
            folder = f.cluster.folder(name) / "tries" / attempt.attempt_id
            if folder.is_dir():
                files = {p.name: p.read_text(errors="replace")[-300:] for p in sorted(folder.iterdir()) if p.is_file()}
                tries.append(f"{attempt.task_id} on {name}: {files}")
    for number, up in enumerate(ups or []):
        said = [e for e in up.events if e.get("level") not in ("info", "debug", None)] + [{"stderr": up.stderr[-10:]}]
        tries.append(f"up #{number + 1}: {said}")
    trace = f.project.root / "trace"
    tries.append("trace:\n" + (trace.read_text() if trace.exists() else ""))
    return "\n".join([" ".join(f.ledger()), *tries])


def kill_at_points(f: Fault, up, points: tuple[int, ...], kill, survivors) -> None:
    """For each point: once that many tasks are done and tries are running on the workers, `kill(up)` (which
    returns the `minorch up` to go on with); then let the run finish and check that every task's side effect
    happened exactly once, that each task has one counted try (a success) and that nothing is left running."""
    ups = [up]
    for point in points:
        reached = wait_until(lambda point=point: f.done() >= point and f.placed(), timeout=120)
        assert reached, f"point {point} not reached:\n{story(f, ups)}\n" + str(up.events[-30:])
        up = kill(up)
        ups.append(up)
    finished = wait_until(lambda: f.store.run(f.run.pk).state.finished, timeout=120)
    assert finished, f"the run did not finish:\n{story(f, ups)}"
    assert up.signal(signal.SIGTERM) == 0
    assert f.store.run(f.run.pk).state is RunState.SUCCESS, story(f, ups)
    done = Counter(line for line in f.ledger() if line.startswith("done "))
    assert done == Counter({f"done {t}": 1 for t in f.tasks}), story(f, ups)
    starts = Counter(line for line in f.ledger() if line.startswith("start "))
    assert starts == Counter({f"start {t}": 1 for t in f.tasks}), story(f, ups)  # never started twice either
    for task_id, tries in f.attempts().items():
        assert [(a.outcome, a.counted) for a in tries if a.counted] == [("success", True)], (task_id, tries)
    ids = {a.attempt_id for tries in f.attempts().values() for a in tries}
    assert survivors([], ids) == []  # no try's process on any "host"
    assert wait_until(lambda: not f.leftovers(), timeout=30), f.leftovers()  # nor a supervisor


def test_kill_9_of_minorch_at_two_points_of_a_30_task_dag_runs_each_task_once(fault, up_processes, survivors):
    """The fast version (default run): 30 short tasks, `minorch up` killed twice, as the first tries run and
    once 12 are done; the restarted scheduler adopts the running tries."""
    f = fault(tasks=30, pause=0.5)

    def kill_minorch(up):
        up.kill()
        return up_processes(f.project)

    kill_at_points(f, up_processes(f.project), (0, 12), kill_minorch, survivors)


@pytest.mark.dask
@pytest.mark.parametrize("points", [(0, 10, 20), (5, 15, 25)])
def test_kill_9_of_minorch_at_several_points_of_a_30_task_dag(fault, up_processes, survivors, points):
    f = fault(tasks=30, pause=2.0)

    def kill_minorch(up):
        up.kill()
        return up_processes(f.project)

    kill_at_points(f, up_processes(f.project), points, kill_minorch, survivors)


@pytest.mark.dask
def test_kill_9_of_a_worker_at_several_points_of_a_30_task_dag(fault, up_processes, survivors):
    """A worker killed while it runs tries, three times, and started again with the same folder and name."""
    f = fault(tasks=30, pause=2.0)

    def kill_worker(up):
        host = sorted(set(f.placed().values()))[0]
        f.cluster.kill_worker(host)
        time.sleep(1.0)
        f.cluster.start_worker(host)
        return up

    kill_at_points(f, up_processes(f.project), (0, 10, 20), kill_worker, survivors)


@pytest.mark.dask
def test_kill_9_of_the_dask_scheduler_at_several_points_of_a_30_task_dag(fault, up_processes, survivors):
    f = fault(tasks=30, pause=2.0)

    def kill_dask_scheduler(up):
        f.cluster.kill_scheduler()
        time.sleep(1.0)
        f.cluster.start_scheduler()
        return up

    kill_at_points(f, up_processes(f.project), (0, 10, 20), kill_dask_scheduler, survivors)


@pytest.mark.dask
def test_kill_9_of_minorch_mid_run_adopts_remote_tries_and_runs_nothing_twice(fault, up_processes, survivors):
    f = fault()
    up = up_processes(f.project)
    assert wait_until(lambda: len(f.placed()) == 8, timeout=30)
    up.kill()
    again = up_processes(f.project)
    f.finish(again)
    assert f.store.run(f.run.pk).state is RunState.SUCCESS
    done_once(f)
    assert sorted(line for line in f.ledger() if line.startswith("start")) == [f"start {t}" for t in f.tasks]
    assert all([(a.outcome, a.counted) for a in tries] == [("success", True)] for tries in f.attempts().values())
    assert survivors([], {a.attempt_id for tries in f.attempts().values() for a in tries}) == []


@pytest.mark.dask
def test_kill_9_of_a_worker_that_comes_back_loses_no_try(fault, up_processes, survivors):
    f = fault()
    up = up_processes(f.project)
    assert wait_until(lambda: len(f.placed()) == 8, timeout=30)
    assert "host0" in f.placed().values()
    f.cluster.kill_worker("host0")
    time.sleep(1.0)
    f.cluster.start_worker("host0")
    f.finish(up)
    assert f.store.run(f.run.pk).state is RunState.SUCCESS
    done_once(f)
    assert all([(a.outcome, a.counted) for a in tries] == [("success", True)] for tries in f.attempts().values())
    assert survivors([], {a.attempt_id for tries in f.attempts().values() for a in tries}) == []


@pytest.mark.dask
def test_a_worker_that_does_not_come_back_gives_each_of_its_tries_one_uncounted_retry(fault, up_processes, survivors):
    f = fault(pause=6.0, lost_after="2s")
    up = up_processes(f.project)
    assert wait_until(lambda: len(f.placed()) == 8, timeout=30)
    on_host0 = {t for t, host in f.placed().items() if host == "host0"}
    assert on_host0
    f.cluster.kill_worker("host0")
    f.finish(up)
    assert f.store.run(f.run.pk).state is RunState.SUCCESS
    done_once(f)
    tries = f.attempts()
    for task_id in on_host0:
        assert [(a.outcome, a.counted) for a in tries[task_id]] == [("interrupted", False), ("success", True)]
        assert tries[task_id][0].reason.startswith("lost: worker host0 went away")
        assert tries[task_id][1].host == "host1"
    for task_id in set(f.tasks) - on_host0:
        assert [(a.outcome, a.counted) for a in tries[task_id]] == [("success", True)], story(f)
    assert survivors([], {a.attempt_id for ts in tries.values() for a in ts}) == []


@pytest.mark.dask
def test_kill_9_of_the_dask_scheduler_mid_run_loses_no_try(fault, up_processes, survivors):
    f = fault(pause=5.0)
    up = up_processes(f.project)
    assert wait_until(lambda: len(f.placed()) == 8, timeout=30)
    f.cluster.kill_scheduler()
    time.sleep(1.0)
    f.cluster.start_scheduler()
    f.finish(up)
    assert f.store.run(f.run.pk).state is RunState.SUCCESS, f.attempts()
    done_once(f)
    assert all([(a.outcome, a.counted) for a in tries] == [("success", True)] for tries in f.attempts().values())
    assert survivors([], {a.attempt_id for tries in f.attempts().values() for a in tries}) == []


@pytest.mark.dask
def test_clearing_a_task_while_it_runs_on_a_worker_kills_its_tree_there(fault, up_processes, survivors):
    f = fault(tasks=1, pause=1000)
    f.project.write("dags/wide.toml", (f.project.root / "dags/wide.toml").read_text().replace("sleep", "setsid sleep"))
    up = up_processes(f.project)
    assert wait_until(lambda: len(f.placed()) == 1, timeout=30)
    [first] = f.store.open_attempts()
    assert wait_until(lambda: survivors([], {first.attempt_id}), timeout=10)
    cleared = f.project.minorch("clear", "wide", f.run.run_id, "t00", "--yes")
    assert cleared.returncode == 0, cleared.stderr
    assert wait_until(lambda: not survivors([], {first.attempt_id}), timeout=15)
    assert wait_until(lambda: f.store.attempts(f.run.pk)[0].end_date is not None, timeout=15)
    ended = f.store.attempts(f.run.pk)[0]
    assert ended.reason.startswith("cancelled: the task was cleared or marked while it ran")
    assert up.signal(signal.SIGTERM) == 0
