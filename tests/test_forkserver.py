"""Python tasks through the fork server: real forks, real log files, real signals.

The contract tests run each Python task both ways, forked by the fork server and spawned
as a new interpreter (``fork_server=False``), and expect the same Exit from both.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil
import pytest
from conftest import run_all, running

from minorch.executors.local import Launch, LocalExecutor
from minorch.executors.proctree import find_leftover, kill_tree
from minorch.runtime import write_spec

NOW = datetime(2024, 1, 15, tzinfo=timezone.utc)
CONTEXT = {
    "ds": "2024-01-15",
    "logical_date": NOW,
    "data_interval_start": NOW,
    "data_interval_end": NOW,
    "timezone": "UTC",
    "xcom": {},
}

TASKS = """\
import atexit, os, signal, subprocess, sys, threading, time
import minorch.runtime
from minorch.errors import SkipTask

def ok():
    return {"answer": 42}

def fail():
    raise ValueError("boom")

def skip():
    raise SkipTask("nothing to do")

def exit_three():
    sys.exit(3)

def killed():
    os.kill(os.getpid(), signal.SIGKILL)

def show():
    # sys.path[0] is the project folder
    print(os.environ["GREETING"], os.environ["MINORCH_ATTEMPT_ID"], os.getcwd(), sys.path[1] == os.getcwd(),
          sys.argv[1:] == [os.environ["SPEC"]])

def signals():
    print(signal.getsignal(signal.SIGINT) is signal.default_int_handler,
          signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, signal.getsignal(signal.SIGHUP) == signal.SIG_DFL,
          signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN, signal.pthread_sigmask(signal.SIG_BLOCK, []) == set())

def goodbye():
    atexit.register(print, "atexit ran")
    threading.Thread(target=lambda: (time.sleep(0.2), print("thread done", flush=True))).start()

def memory():
    global BLOB
    BLOB = bytearray(50_000_000)

def flood():
    chunk = b"y\\n" * 500_000
    for _ in range(300):
        sys.stdout.buffer.write(chunk)

def nap():
    time.sleep(0.3)

def sleep():
    time.sleep(1000)

def tree():
    subprocess.Popen(["setsid", "sleep", "1000"])
    subprocess.Popen(["sleep", "1000"])
    time.sleep(1000)

def leak():
    import leaky
    leaky.value = 1
    minorch.runtime.LEAKED = True
    os.environ["LEAKED"] = "1"

def look():
    print("leaky" in sys.modules, hasattr(minorch.runtime, "LEAKED"), "LEAKED" in os.environ)
"""


DAG_FILE = """\
from minorch import DAG, task

with DAG("etl", schedule="@daily") as dag:
    @task
    def extract(ds):
        return [1, 2, 3]

    @task
    def total(rows, scale=1):
        return sum(rows) * scale

    total(rows=extract(), scale=2)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder holding the task module `tasks` (and `leaky`, which a task imports)."""
    (tmp_path / "tasks.py").write_text(TASKS)
    (tmp_path / "leaky.py").write_text("value = 0\n")
    return tmp_path


@pytest.fixture(params=[True, False], ids=["forked", "spawned"])
def executor(request):
    ex = LocalExecutor(fork_server=request.param)
    yield ex
    ex.shutdown(0.1)
    ex.close()


@pytest.fixture
def forking():
    ex = LocalExecutor()
    yield ex
    ex.shutdown(0.1)
    ex.close()


def python(folder: Path, attempt_id: str, func: str, target: dict | None = None, **options) -> Launch:
    """The launch the scheduler makes for the Python task `tasks:<func>` (or for `target`)."""
    spec = folder / f"{attempt_id}.json"
    target = target or {"kind": "ref", "ref": f"tasks:{func}", "sys_path": [str(folder)]}
    write_spec(
        spec,
        target=target,
        context={**CONTEXT, "xcom": {"extract": [1, 2, 3]}},
        result_path=folder / f"{attempt_id}.result",
        max_result_bytes=1024,
    )
    env = {**os.environ, "MINORCH_STATUS_FILE": str(folder / f"{attempt_id}.status"), "SPEC": str(spec)}
    fields = {
        "attempt_id": attempt_id,
        "argv": [sys.executable, "-m", "minorch.runtime", str(spec)],
        "env": env,
        "cwd": str(folder),
        "log_path": folder / "logs" / f"{attempt_id}.log",
        "timeout": None,
    }
    fields.update(options)
    return Launch(**fields)


def log_of(folder: Path, attempt_id: str) -> str:
    return (folder / "logs" / f"{attempt_id}.log").read_text()


def status_of(folder: Path, attempt_id: str) -> str | None:
    path = folder / f"{attempt_id}.status"
    return path.read_text() if path.exists() else None


def wait_gone(proc: psutil.Process) -> None:
    """Wait (up to 2 s) until `proc` has ended, without reaping it."""
    deadline = time.monotonic() + 2.0
    while running([proc]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert running([proc]) == []


def fork_servers() -> list[psutil.Process]:
    return [p for p in running(psutil.Process().children()) if "minorch.executors.forkserver" in " ".join(p.cmdline())]


# -- the same Exit, forked or spawned --------------------------------------------


def test_exit_codes_reasons_and_status_files_are_those_of_a_new_interpreter(executor, folder):
    for func in ("ok", "fail", "skip", "exit_three", "killed"):
        executor.start(python(folder, func, func))
    executor.start(python(folder, "bad_spec", "ok", argv=[sys.executable, "-m", "minorch.runtime", "/no/spec"]))
    exits = run_all(executor)
    codes = {name: (e.returncode, e.signal, e.reason) for name, e in exits.items()}
    assert codes == {
        "ok": (0, None, "exited with code 0"),
        "fail": (1, None, "exited with code 1"),
        "skip": (99, None, "exited with code 99"),
        "exit_three": (3, None, "exited with code 3"),
        "killed": (None, 9, "killed by signal 9 (SIGKILL)"),
        "bad_spec": (2, None, "exited with code 2"),
    }
    assert (folder / "ok.result").read_text() == '{"answer": 42}'
    assert "ValueError: boom" in log_of(folder, "fail")
    # `python -m minorch.runtime` records the code main() returns; sys.exit() skips that.
    assert [status_of(folder, name) for name in ("ok", "fail", "skip", "exit_three")] == ["0", "1", "99", None]


def test_a_dag_file_task_loads_its_dag_file_and_gets_its_upstream_result(executor, folder):
    (folder / "etl.py").write_text(DAG_FILE)
    target = {"kind": "dagfile", "path": str(folder / "etl.py"), "dag_id": "etl", "task_id": "total"}
    for name in ("a", "b"):  # the second loads the file again: nothing of the first is left
        executor.start(python(folder, name, "", target=target))
        assert run_all(executor)[name].returncode == 0, log_of(folder, name)
        assert (folder / f"{name}.result").read_text() == "12"


def test_env_cwd_argv_and_path_reach_the_task_and_output_lands_in_a_private_log(executor, folder):
    work = folder / "work"
    work.mkdir()
    launch = python(folder, "a-1", "show", cwd=str(work))
    executor.start(Launch(**{**launch.__dict__, "env": {**launch.env, "GREETING": "hello"}}))
    assert run_all(executor)["a-1"].returncode == 0
    assert log_of(folder, "a-1") == f"hello a-1 {work} True True\n"
    assert stat.S_IMODE((folder / "logs" / "a-1.log").stat().st_mode) == 0o600


def test_signal_handlers_and_mask_are_those_of_a_new_interpreter(executor, folder):
    executor.start(python(folder, "a", "signals"))
    run_all(executor)
    # Not a constant: a shell starts a background job with SIGINT ignored, and so its interpreters.
    fresh = subprocess.run(
        [sys.executable, "-c", "import tasks; tasks.signals()"], cwd=folder, capture_output=True, text=True
    )
    assert log_of(folder, "a") == fresh.stdout


def test_the_task_ends_like_an_interpreter_waiting_for_threads_and_running_atexit(executor, folder):
    executor.start(python(folder, "a", "goodbye"))
    done = run_all(executor)["a"]
    assert done.returncode == 0 and done.duration >= 0.2
    assert log_of(folder, "a") == "thread done\natexit ran\n"


def test_peak_rss_and_cpu_time_are_the_tasks_own(executor, folder):
    executor.start(python(folder, "a", "memory"))
    done = run_all(executor)["a"]
    assert done.peak_rss is not None and 50_000_000 < done.peak_rss < 200_000_000
    assert done.cpu_time is not None and 0 < done.cpu_time < 5


def test_a_missing_working_directory_is_an_exit_127_with_a_clear_reason(executor, folder):
    started = executor.start(python(folder, "a", "ok", cwd=str(folder / "gone")))
    [done] = executor.poll()
    assert started.pid == 0 and done.returncode == 127
    assert done.reason == f"could not start: working directory {folder / 'gone'} does not exist"


def test_a_huge_writer_finishes_with_its_log_near_the_cap(executor, folder):
    cap = 2**20
    executor.start(python(folder, "a", "flood", log_cap=cap))
    done = run_all(executor, limit=10.0)["a"]
    assert done.returncode == 0
    log = (folder / "logs" / "a.log").read_bytes()
    assert cap // 2 < len(log) <= cap + 100
    assert f"[minorch: log truncated at {cap // 2} bytes]".encode() in log


def test_a_timeout_kills_the_whole_tree_of_a_python_task(executor, folder):
    started = executor.start(python(folder, "a", "tree", timeout=0.5, grace=0.5))
    deadline = time.monotonic() + 2.0
    while len(tree := psutil.Process(started.pid).children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    done = run_all(executor)["a"]
    assert done.timed_out and done.reason == "timed out after 0.5s and was terminated"
    assert 0.5 <= done.duration < 1.5
    assert len(tree) == 2 and running(tree) == []


def test_cancel_terminates_a_python_task_and_says_why(executor, folder):
    executor.start(python(folder, "a", "sleep"))
    executor.cancel("a", "cancelled by the user")
    done = run_all(executor)["a"]
    assert done.cancelled and (done.signal, done.reason) == (15, "cancelled by the user")


# -- the fork server itself ------------------------------------------------------


def test_the_server_imports_our_minorch_even_when_only_our_sys_path_finds_it(folder, monkeypatch):
    # Run from a source tree, minorch is found through the scheduler's sys.path, not PYTHONPATH.
    monkeypatch.delenv("PYTHONPATH", raising=False)
    ex = LocalExecutor()
    try:
        started = ex.start(python(folder, "a-1", "sleep"))  # alive until cancelled: its parent can be read
        assert "minorch.executors.forkserver" in " ".join(psutil.Process(started.pid).parent().cmdline())
        ex.cancel("a-1", "done")
        assert run_all(ex)["a-1"].cancelled
    finally:
        ex.shutdown(0.1)
        ex.close()


def test_a_python_task_is_a_fork_of_the_server_that_find_leftover_knows(forking, folder):
    started = forking.start(python(folder, "a-7", "sleep"))
    task = psutil.Process(started.pid)
    assert "minorch.executors.forkserver" in " ".join(task.parent().cmdline())
    assert os.getsid(started.pid) == started.pid
    assert started.create_time == task.create_time()
    assert find_leftover(started.pid, started.create_time, "a-7") == task
    assert find_leftover(started.pid, started.create_time, "a-8") is None
    forking.cancel("a-7", "done")
    run_all(forking)


def test_after_a_scheduler_crash_its_forked_task_runs_on_and_find_leftover_knows_it(folder):
    launch = python(folder, "a-9", "sleep")
    starter = (
        "import json, sys, time; from pathlib import Path; from minorch.executors.local import Launch, LocalExecutor; "
        "fields = json.loads(sys.argv[1]); fields['log_path'] = Path(fields['log_path']); "
        "started = LocalExecutor().start(Launch(**fields)); "
        "print(json.dumps([started.pid, started.create_time]), flush=True); time.sleep(1000)"
    )
    fields = {**launch.__dict__, "log_path": str(launch.log_path)}
    scheduler = subprocess.Popen([sys.executable, "-c", starter, json.dumps(fields)], stdout=subprocess.PIPE, text=True)
    pid, create_time = json.loads(scheduler.stdout.readline())
    server = psutil.Process(pid).parent()
    scheduler.kill()
    scheduler.wait()
    wait_gone(server)  # it sees its socket close and leaves
    task = find_leftover(pid, create_time, "a-9")
    assert task is not None and task.pid == pid
    kill_tree(pid, grace=0.5)
    assert running([task]) == []


def test_a_launch_sent_just_before_the_scheduler_died_is_never_started(folder):
    """The server reads a request only after its sender was killed (a launch burst cut short): the try is
    recorded but its process must not start then, when a restarted scheduler may already have found no
    process for it and started it again itself."""
    first, late = python(folder, "a-1", "sleep"), python(folder, "a-2", "ok")
    starter = (
        "import json, sys; from pathlib import Path; from minorch.executors.local import Launch, LocalExecutor; "
        "launches = [Launch(**{**f, 'log_path': Path(f['log_path'])}) "
        "for f in json.loads(sys.argv[1])]; ex = LocalExecutor(); "
        "print(ex.start(launches[0]).pid, flush=True); sys.stdin.readline(); ex.start(launches[1])"
    )
    fields = [{**launch.__dict__, "log_path": str(launch.log_path)} for launch in (first, late)]
    scheduler = subprocess.Popen(
        [sys.executable, "-c", starter, json.dumps(fields)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    task = psutil.Process(int(scheduler.stdout.readline()))
    server = task.parent()
    server.suspend()  # it reads the next request only once its sender is gone
    scheduler.stdin.write("go\n")
    scheduler.stdin.flush()
    time.sleep(0.3)  # the request is in the server's socket
    scheduler.kill()
    scheduler.wait()
    server.resume()
    wait_gone(server)
    assert status_of(folder, "a-2") is None and not (folder / "a-2.log").exists()
    assert not [p for p in psutil.process_iter() if p.pid != task.pid and "a-2" in _attempt_of(p)]
    kill_tree(task.pid, grace=0.5)


def _attempt_of(proc: psutil.Process) -> str:
    try:
        return proc.environ().get("MINORCH_ATTEMPT_ID", "")
    except psutil.Error:
        return ""


def test_what_one_task_imports_or_changes_is_not_seen_by_the_next(forking, folder):
    forking.start(python(folder, "a", "leak"))
    assert run_all(forking)["a"].returncode == 0
    forking.start(python(folder, "b", "look"))
    assert run_all(forking)["b"].returncode == 0
    assert log_of(folder, "b") == "False False False\n"


def test_two_hundred_quick_python_tasks_are_each_reported_once(forking, folder):
    for i in range(200):
        forking.start(python(folder, f"t{i}", "ok"))
    exits = run_all(forking, limit=20.0)
    assert sorted(exits) == sorted(f"t{i}" for i in range(200))
    assert all(e.returncode == 0 for e in exits.values())


def test_a_task_whose_fork_server_died_ends_with_its_exit_status_lost(forking, folder, caplog):
    started = forking.start(python(folder, "a", "nap"))
    server = psutil.Process(started.pid).parent()
    server.kill()
    done = run_all(forking)["a"]
    assert (done.returncode, done.signal, done.reason) == (None, None, "exit status lost: the fork server died")
    assert done.duration >= 0.3
    assert "it was killed by signal 9 (1 running tries end without an exit status)" in caplog.text
    again = forking.start(python(folder, "b", "sleep"))
    assert psutil.Process(again.pid).parent() in fork_servers() and server not in fork_servers()


def test_when_servers_die_in_turn_each_of_their_tasks_is_reported_once(forking, folder):
    first = forking.start(python(folder, "a", "nap"))
    server = psutil.Process(first.pid).parent()
    server.kill()
    wait_gone(server)
    forking.start(python(folder, "b", "nap"))  # finds it dead: a new interpreter
    third = forking.start(python(folder, "c", "nap"))  # a new server
    psutil.Process(third.pid).parent().kill()
    exits = run_all(forking)
    assert {name: e.reason for name, e in exits.items()} == {
        "a": "exit status lost: the fork server died",
        "b": "exited with code 0",
        "c": "exit status lost: the fork server died",
    }


def test_the_fork_server_outlives_a_sigterm_so_its_tasks_keep_their_exit_status(forking, folder):
    started = forking.start(python(folder, "a", "nap"))
    psutil.Process(started.pid).parent().terminate()
    done = run_all(forking)["a"]
    assert (done.returncode, done.reason) == (0, "exited with code 0")


def test_a_launch_that_finds_the_server_dead_starts_a_new_interpreter_and_the_next_a_new_server(forking, folder):
    forking.start(python(folder, "a", "ok"))
    run_all(forking)
    [server] = fork_servers()
    server.kill()
    wait_gone(server)
    first = forking.start(python(folder, "b", "sleep"))
    second = forking.start(python(folder, "c", "sleep"))
    assert psutil.Process(first.pid).ppid() == os.getpid()
    assert psutil.Process(second.pid).ppid() not in (os.getpid(), server.pid)
    forking.shutdown(0.1)


def test_a_launch_with_a_different_python_environment_starts_a_new_interpreter(forking, folder):
    launch = python(folder, "a", "sleep")
    started = forking.start(Launch(**{**launch.__dict__, "env": {**launch.env, "PYTHONWARNINGS": "error"}}))
    assert psutil.Process(started.pid).ppid() == os.getpid()
    assert fork_servers() == []


def test_a_server_that_cannot_start_is_not_tried_again(folder, monkeypatch, caplog):
    monkeypatch.setenv("PYTHONHOME", str(folder / "no-python-here"))  # no interpreter starts with this
    ex = LocalExecutor()
    with caplog.at_level(logging.WARNING, logger="minorch.executors.local"):
        ex.start(python(folder, "a", "ok"))
        ex.start(python(folder, "b", "ok"))
    exits = run_all(ex)
    assert [exits[name].returncode for name in "ab"] == [1, 1]  # the new interpreters failed too
    assert "Fatal Python error" in log_of(folder, "a")
    assert caplog.text.count("it is not started again") == 1
    assert fork_servers() == []
    ex.close()


def test_an_idle_executor_with_a_fork_server_sleeps_in_wait_instead_of_spinning(forking, folder):
    forking.start(python(folder, "a", "ok"))
    run_all(forking)
    assert len(fork_servers()) == 1
    wall, cpu = time.monotonic(), time.process_time()
    forking.wait(0.3)
    assert time.monotonic() - wall >= 0.29
    assert time.process_time() - cpu < 0.05


def test_close_stops_the_fork_server(folder):
    ex = LocalExecutor()
    ex.start(python(folder, "a", "ok"))
    run_all(ex)
    [server] = fork_servers()
    ex.close()
    assert running([server]) == []


# -- DAG files imported once per version -------------------------------------------

VERSIONED = """\
import time
from _helper import FACTOR
from minorch import DAG, task

with open("imports.txt", "a") as log:  # one line per import of this file
    log.write("{version}\\n")

with DAG("etl"):
    @task
    def value(pause=0.0):
        time.sleep(pause)
        return [{version}, FACTOR]

    value()
"""


def dag_try(folder: Path, name: str) -> Launch:
    target = {"kind": "dagfile", "path": str(folder / "etl.py"), "dag_id": "etl", "task_id": "value"}
    return python(folder, name, "", target=target)


def imports(folder: Path) -> list[str]:
    path = folder / "imports.txt"
    return path.read_text().split() if path.exists() else []


def result(forking, folder: Path, name: str) -> list:
    forking.start(dag_try(folder, name))
    done = run_all(forking)[name]
    assert done.returncode == 0, log_of(folder, name)
    return json.loads((folder / f"{name}.result").read_text())


def until_quiet(forking, folder: Path, prefix: str) -> list:
    """Run tries one after another until one runs without importing the DAG file (the server's
    generation for it has loaded it); that try's result."""
    for i in range(100):
        before = len(imports(folder))
        value = result(forking, folder, f"{prefix}{i}")
        if len(imports(folder)) == before:
            return value
    raise AssertionError(f"every try imported the DAG file: {imports(folder)}")


def test_a_dag_file_is_imported_once_per_version_and_tries_in_flight_keep_theirs(forking, folder):
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    (folder / "etl.py").write_text(VERSIONED.format(version=1))
    assert until_quiet(forking, folder, "a") == [1, 1]
    loaded = len(imports(folder))
    assert [result(forking, folder, f"b{i}") for i in range(10)] == [[1, 1]] * 10
    assert len(imports(folder)) == loaded  # ten tries, no import

    (folder / "etl.py").write_text(VERSIONED.format(version=2))  # a new version while it runs
    assert until_quiet(forking, folder, "c") == [2, 1]
    assert imports(folder)[-1] == "2"

    (folder / "_helper.py").write_text("FACTOR = 10\n")  # a module the DAG file imports changes
    assert until_quiet(forking, folder, "d") == [2, 10]


def test_an_edit_of_the_same_size_within_the_same_second_is_run(monkeypatch, folder):
    """Python trusts a cached .pyc whose source has the same size and whole-second mtime: a DAG file
    is always compiled from its source, so such an edit is never answered by the old code."""
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)  # a .pyc gets written, as on most hosts
    etl = folder / "etl.py"
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    etl.write_text(VERSIONED.format(version=1))
    second = etl.stat().st_mtime_ns // 10**9 * 10**9
    os.utime(etl, ns=(second, second + 100_000_000))
    ex = LocalExecutor()
    try:
        assert until_quiet(ex, folder, "a") == [1, 1]
        etl.write_text(VERSIONED.format(version=2))  # the same size
        os.utime(etl, ns=(second, second + 200_000_000))  # and the same second
        assert until_quiet(ex, folder, "b") == [2, 1]
    finally:
        ex.shutdown(0.1)
        ex.close()


def test_a_try_in_flight_keeps_the_version_it_started_with(forking, folder):
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    (folder / "etl.py").write_text(VERSIONED.format(version=1).replace("pause=0.0", "pause=0.5"))
    until_quiet(forking, folder, "a")
    loaded = len(imports(folder))
    forking.start(dag_try(folder, "old"))  # forked from the generation that has version 1
    time.sleep(0.2)
    (folder / "etl.py").write_text(VERSIONED.format(version=2))
    forking.start(dag_try(folder, "new"))
    exits = run_all(forking)
    assert exits["old"].returncode == 0 and exits["new"].returncode == 0
    assert json.loads((folder / "old.result").read_text()) == [1, 1]
    assert json.loads((folder / "new.result").read_text()) == [2, 1]
    assert imports(folder)[:loaded] == ["1"] * loaded and "1" not in imports(folder)[loaded:]


def test_a_dag_file_that_fails_to_import_fails_each_try_as_before(forking, folder):
    (folder / "etl.py").write_text("open('imports.txt', 'a').write('x\\n')\nraise RuntimeError('bad file')\n")
    names = [f"t{i}" for i in range(6)]
    for name in names:
        forking.start(dag_try(folder, name))
        done = run_all(forking)[name]
        assert done.returncode == 1
        assert "RuntimeError: bad file" in log_of(folder, name)
    assert len(imports(folder)) <= len(names) + 1  # each try, and one failed generation for this version


def test_a_lost_generation_ends_its_tries_without_a_status_and_a_new_server_takes_over(forking, folder):
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    (folder / "etl.py").write_text(VERSIONED.format(version=1).replace("pause=0.0", "pause=1.0"))
    until_quiet(forking, folder, "a")
    started = forking.start(dag_try(folder, "slow"))
    generation = psutil.Process(started.pid).parent()
    assert generation.pid not in [p.pid for p in fork_servers()]  # a fork of the server, not the server
    generation.kill()
    done = run_all(forking)["slow"]
    assert (done.returncode, done.reason) == (None, "exit status lost: the fork server died")
    assert until_quiet(forking, folder, "b") == [1, 1]  # a new server, with a new generation


def test_a_batch_of_launches_gets_each_its_own_answer(forking, folder):
    launches = [
        python(folder, "a", "sleep"),
        python(folder, "b", "ok", cwd=str(folder / "gone")),
        python(folder, "c", "sleep"),
        python(folder, "d", "ok", env={"PYTHONWARNINGS": "error", **os.environ}),  # not forked: a new interpreter
    ]
    started = forking.start_all(launches)
    assert [s.attempt_id for s in started] == ["a", "b", "c", "d"]
    assert started[1].pid == 0
    for s in (started[0], started[2]):
        assert find_leftover(s.pid, s.create_time, s.attempt_id) is not None
        assert psutil.Process(s.pid).parent() in fork_servers()
    assert psutil.Process(started[3].pid).ppid() == os.getpid()
    forking.cancel("a", "enough")
    forking.cancel("c", "enough")
    exits = run_all(forking)
    assert exits["a"].cancelled and exits["c"].cancelled
    assert exits["b"].returncode == 127 and exits["d"].returncode == 0


def test_a_batch_of_dag_file_tries_forks_each_from_the_generation_once(forking, folder):
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    (folder / "etl.py").write_text(VERSIONED.format(version=1))
    until_quiet(forking, folder, "a")
    loaded = len(imports(folder))
    names = [f"b{i}" for i in range(12)]
    started = forking.start_all([dag_try(folder, name) for name in names])
    assert len({s.pid for s in started}) == len(names) and all(s.pid for s in started)
    exits = run_all(forking)
    assert sorted(exits) == sorted(names) and all(e.returncode == 0 for e in exits.values())
    assert [json.loads((folder / f"{name}.result").read_text()) for name in names] == [[1, 1]] * len(names)
    assert len(imports(folder)) == loaded  # none imported the file: each was forked from the generation


def test_requests_a_lost_generation_never_answered_are_forked_by_the_server_each_once(forking, folder):
    (folder / "_helper.py").write_text("FACTOR = 1\n")
    (folder / "etl.py").write_text(VERSIONED.format(version=1).replace("pause=0.0", "pause=1.0"))
    until_quiet(forking, folder, "a")
    loaded = len(imports(folder))
    [server] = fork_servers()
    [generation] = running(server.children())
    generation.suspend()  # it takes the requests but answers none
    killer = threading.Timer(0.5, generation.kill)
    killer.start()
    names = [f"b{i}" for i in range(4)]
    started = forking.start_all([dag_try(folder, name) for name in names])
    killer.join()
    assert [psutil.Process(s.pid).ppid() for s in started] == [server.pid] * len(names)  # not new interpreters
    exits = run_all(forking)
    assert sorted(exits) == names and all(e.returncode == 0 for e in exits.values())
    assert len(imports(folder)) == loaded + len(names)  # each try ran once, importing the file itself


FRESH = """\
import sys
sys.path.append({lib!r})
import _listed  # the generation lists lib/ now
from minorch import DAG, task

with open("imports.txt", "a") as log:
    log.write("1\\n")

with DAG("etl"):
    @task
    def value():
        try:
            import fresh
        except ImportError:
            return [0]
        return [fresh.X]

    value()
"""


FINDERS = """\
import sys
from minorch import DAG, task

with open("imports.txt", "a") as log:
    log.write("1\\n")

with DAG("etl"):
    @task
    def value():
        # a finder right behind the first one must be asked at the try's first import of a new module
        asked = []

        class Recorder:
            @staticmethod
            def find_spec(name, path=None, target=None):
                asked.append(name)

        sys.meta_path.insert(1, Recorder)
        import leaky
        return ["asked" if "leaky" in asked else "skipped", leaky.value]

    value()
"""


def test_every_finder_is_asked_at_a_forked_tries_first_import_of_a_new_module(forking, folder):
    (folder / "etl.py").write_text(FINDERS)
    assert until_quiet(forking, folder, "a") == ["asked", 0]  # forked from the generation


def test_a_forked_try_imports_a_module_created_after_its_generation_listed_the_folder(forking, folder):
    lib = folder / "lib"
    lib.mkdir()
    (lib / "_listed.py").write_text("")
    listed = os.stat(lib)
    (folder / "etl.py").write_text(FRESH.format(lib=str(lib)))
    assert until_quiet(forking, folder, "a") == [0]
    (lib / "fresh.py").write_text("X = 7\n")
    os.utime(lib, ns=(listed.st_atime_ns, listed.st_mtime_ns))  # a change within the folder's mtime tick
    assert result(forking, folder, "b") == [7]
