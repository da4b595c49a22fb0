"""A state folder this user may only read (a backup, another user's project, a read-only mount):
every command that only reads works, creates no -wal or -shm file, and a command that writes says
it may not write there (not "move it away"). Listings refuse an oversized --limit in one line.

As root the kernel would let us write anyway, so the commands then run without the capabilities
that override file modes (setpriv): the file modes are what stops them, as for any user."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

PIPELINE = """
[dags.etl.tasks.extract]
command = "echo extracted"

[dags.etl.tasks.load]
command = "echo loaded"
after = ["extract"]
"""


def _as_reader(project, *args: str) -> subprocess.CompletedProcess:
    prefix = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: file modes cannot be enforced")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "minorch", *args],
        cwd=project.root,
        env=project.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _set_writable(folder, writable: bool) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def read_only_state(project):
    project.write("dags/etl.toml", PIPELINE)
    assert project.run("etl").exit_code == 0
    state = project.root / ".minorch"
    for extra in ("minorch.db-wal", "minorch.db-shm"):
        assert not (state / extra).exists()  # a cleanly closed WAL file: the hard case
    _set_writable(state, False)
    yield state
    _set_writable(state, True)


def test_read_only_commands_work_on_a_state_folder_this_user_may_not_write(project, read_only_state):
    assert _as_reader(project, "trigger", "etl").returncode == 2  # the folder really is read-only
    checks = {
        ("dags",): "etl",
        ("runs", "etl"): "success",
        ("tasks", "etl", "latest"): "extract",
        ("logs", "etl", "latest", "extract"): "extracted",
        ("gantt", "etl", "latest"): "load",
        ("graph", "etl"): "load",
        ("metrics",): "minorch_",
        ("db", "check"): "no problems found",
        ("assets",): "no assets",
    }
    for args, expected in checks.items():
        done = _as_reader(project, *args)
        assert done.returncode == 0 and expected in done.stdout, (args, done.stderr)
    status = _as_reader(project, "status", "--json")
    assert status.returncode == 1 and json.loads(status.stdout)["dags"] == 1, status.stderr  # no `up`: not healthy
    runs = json.loads(_as_reader(project, "runs", "etl", "--json").stdout)
    assert [r["state"] for r in runs] == ["success"]
    assert sorted(p.name for p in read_only_state.iterdir()) == ["logs", "minorch.db", "runs", "scheduler.lock", "tmp"]


def test_a_write_on_a_read_only_state_folder_names_the_permission_not_damage(project, read_only_state):
    done = _as_reader(project, "trigger", "etl")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "check that you may write" in done.stderr and "move it away" not in done.stderr


def test_an_oversized_limit_is_one_clear_refusal_not_an_sqlite_error(project, read_only_state):
    for args in (("runs", "etl", "--limit", "99999999999999999999"), ("assets", "show", "x", "-n", "10" * 20)):
        done = _as_reader(project, *args)
        assert done.returncode == 2
        assert "is not in the range 1<=x<=1000000" in done.stderr and "SQLite" not in done.stderr, done.stderr
    done = _as_reader(project, "logs", "etl", "latest", "extract", "--try", "99999999999999999999")
    assert done.returncode == 2 and "is not in the range" in done.stderr
