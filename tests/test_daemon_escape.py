"""A try that double-forks a daemon (`(setsid sleep N &)`): the daemon is no descendant of the
try, nor in its session, so the process tree misses it. A timeout or a cancel still stops it:
through the try's cgroup where the host allows one per try, and through the MINORCH_ATTEMPT_ID
it inherits everywhere. Real processes; each test looks for the daemon by its command line."""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import psutil
import pytest
from conftest import run_all, running

from minorch.executors import cgroups
from minorch.executors.base import Launch
from minorch.executors.cgroups import TryGroups, find_cgroup
from minorch.executors.local import LocalExecutor


def daemons(seconds: str) -> list[psutil.Process]:
    """Live `sleep <seconds>` processes: the test's daemon, by its unusual duration."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["cmdline"] == ["sleep", seconds] and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


def wait_for_daemon(seconds: str) -> list[psutil.Process]:
    deadline = time.monotonic() + 10
    while not (found := daemons(seconds)) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert found, "the daemon never started"
    return found


def launch(tmp_path: Path, script: str, **options) -> Launch:
    attempt_id = uuid.uuid4().hex
    fields = {
        "attempt_id": attempt_id,
        "argv": ["/bin/sh", "-c", script],
        "env": dict(os.environ),
        "cwd": None,
        "log_path": tmp_path / f"{attempt_id}.log",
        "timeout": None,
        "grace": 0.3,
    }
    return Launch(**{**fields, **options})


@pytest.fixture(autouse=True)
def no_daemon_left():
    """Whatever a failing test left behind: the `sleep` daemons of this module, by their durations."""
    yield
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if len(cmdline) == 2 and cmdline[0] == "sleep" and cmdline[1] in SECONDS:
            proc.kill()


SECONDS = {str(base + os.getpid() % 97) for base in (900, 1000, 1100)}


@pytest.fixture
def groups(tmp_path):
    made = TryGroups.probe(tmp_path)
    if made is None:
        pytest.skip("no cgroup v2 this process may write")
    yield made
    made.close()


def test_a_timeout_stops_a_double_forked_daemon_without_cgroups(tmp_path):
    seconds = str(900 + os.getpid() % 97)
    ex = LocalExecutor(groups=None)
    try:
        ex.start(launch(tmp_path, f"(setsid sleep {seconds} &); sleep 600", timeout=1.0))
        [daemon] = wait_for_daemon(seconds)
        assert daemon.ppid() != os.getpid() and os.getsid(daemon.pid) == daemon.pid  # out of tree and session
        [done] = run_all(ex, limit=10).values()
        assert done.timed_out
        assert running([daemon]) == []
    finally:
        ex.shutdown(0.1)


def test_a_cancel_stops_a_daemon_that_cleared_its_environment_through_the_cgroup(tmp_path, groups):
    """`env -i`: no MINORCH_ATTEMPT_ID to find it by; only the cgroup knows it."""
    seconds = str(1000 + os.getpid() % 97)
    ex = LocalExecutor(groups=groups)
    try:
        started = launch(tmp_path, f"(setsid env -i sleep {seconds} &); sleep 600")
        ex.start(started)
        [daemon] = wait_for_daemon(seconds)
        assert "MINORCH_ATTEMPT_ID" not in daemon.environ()
        assert daemon.pid in groups.members(started.attempt_id)
        ex.cancel(started.attempt_id, "cancelled by the test")
        [done] = run_all(ex, limit=10).values()
        assert done.cancelled
        assert running([daemon]) == []
        assert not groups.path(started.attempt_id).exists()  # emptied, then removed
    finally:
        ex.shutdown(0.1)
        ex.close()


def test_minorch_run_stops_a_daemon_escaping_a_timed_out_try(project, survivors):
    """End to end: a DAG task double-forks a `sleep` daemon and times out; nothing of it is left."""
    seconds = str(1100 + os.getpid() % 97)
    project.write(
        "dags/escape.toml",
        f"""
        [dags.escape.tasks.spawn]
        command = "(setsid sleep {seconds} &); (setsid env -i sleep {seconds} &); sleep 600"
        timeout = "2s"
        """,
    )
    began = time.monotonic()
    done = project.minorch("run", "escape", "--date", "2024-01-15", "-q", timeout=60)
    assert done.returncode == 1 and "timed out after 2s" in done.stderr, done.stderr
    assert time.monotonic() - began < 30
    store = project.store()
    try:
        [attempt] = store.attempts(store.runs("escape")[0].pk)
    finally:
        store.close()
    assert survivors([], {attempt.attempt_id}) == []
    left = daemons(seconds)
    if TryGroups.probe(project.root / ".minorch") is None:  # no cgroups: the `env -i` one escapes
        assert len(left) <= 1
        for proc in left:
            proc.kill()
    else:
        assert left == []


def test_up_says_once_how_it_stops_a_tries_processes(project, up_processes):
    up = up_processes(project)
    up.ready()
    [said] = [e for e in up.events if "isolation" in e]
    expected = "each try in its own cgroup under" if TryGroups.probe(project.root / ".minorch") else "no cgroup v2"
    assert expected in said["isolation"] and "MINORCH_ATTEMPT_ID" in said["isolation"]
    assert said["message"].startswith("a timed-out or cancelled try is stopped through ")
    assert up.signal(15) == 0


def test_a_restart_stops_what_a_killed_schedulers_try_left_in_its_cgroup(project, tmp_path, groups):
    """`minorch run` killed with SIGKILL while its try runs; the try's daemon cleared its environment.
    The next run of that DAG (on_restart = "kill") stops the try through its cgroup, daemon too."""
    seconds = str(1200 + os.getpid() % 97)
    SECONDS.add(seconds)
    project.configure(minorch='on_restart = "kill"')
    once = tmp_path / "once"  # the second try ends at once
    project.write(
        "dags/escape.toml",
        f"""
        [dags.escape.tasks.spawn]
        command = "[ -e {once} ] && exit 0; touch {once}; (setsid env -i sleep {seconds} &); sleep 600"
        """,
    )
    first = project.start("run", "escape", "--date", "2024-01-15")
    [daemon] = wait_for_daemon(seconds)
    first.kill()
    first.wait(10)
    assert running([daemon]) == [daemon]
    again = project.minorch("run", "escape", "--date", "2024-01-15", "-q", timeout=60)
    assert again.returncode == 0, again.stderr
    assert running([daemon]) == []


def test_the_shared_cgroup_stays_while_a_try_has_one_and_goes_with_the_last(groups):
    for attempt_id in ("a", "b"):
        assert groups.prepare(attempt_id) is not None
    groups.remove("a")
    assert not groups.path("a").exists() and groups.base.is_dir()  # b's cgroup is still in it
    groups.remove("b")
    assert not groups.base.exists()
    assert groups.prepare("c") is not None and groups.path("c").is_dir()  # made again for the next try
    groups.remove("c")


HYBRID = """\
25 30 0:23 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw{super}
42 31 0:39 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
"""


def test_the_cgroup_folder_and_mount_are_found_and_favordynmods_is_seen_in_either_option_list():
    own = "12:cpu:/\n0::/system.slice/minorch.service\n"
    assert find_cgroup(own, HYBRID.format(super="")) == (
        Path("/sys/fs/cgroup/unified/system.slice/minorch.service"),
        "/sys/fs/cgroup/unified",
        False,
    )
    assert find_cgroup(own, HYBRID.format(super=",favordynmods"))[2] is True
    assert find_cgroup(own, HYBRID.replace("rw,relatime - cgroup2", "rw,favordynmods - cgroup2").format(super=""))[2]
    # a namespace whose cgroup root is the service's own folder; no cgroup v2 at all
    inside = "41 31 0:38 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"
    assert find_cgroup("0::/system.slice/x\n", inside)[0] == Path("/sys/fs/cgroup/x")
    assert find_cgroup("12:cpu:/\n", HYBRID.format(super="")) is None
    assert find_cgroup(own, "25 30 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n") is None


def test_a_slow_move_into_a_cgroup_is_reported_with_the_remount_that_fixes_it(tmp_path, monkeypatch, groups):
    """`up` logs the isolation once; where moving a process into a cgroup was slow at the probe and
    the mount lacks favordynmods, that line says how slow and what to remount (any move counts as
    slow here, so the outcome depends only on this host's mount)."""
    monkeypatch.setattr(cgroups, "SLOW_JOIN", 0.0)
    probed = TryGroups.probe(tmp_path / "other")
    assert probed is not None
    try:
        _, mount, favored = find_cgroup(Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text())
        if favored:
            assert probed.describe() == f"each try in its own cgroup under {probed.base}"
        else:
            assert f"remount {mount} with favordynmods" in probed.describe()
            assert re.search(r"moving a process into a cgroup took \d+\.\d ms here", probed.describe())
    finally:
        probed.close()
