"""The DAG folder watcher says when to look at DAG files (inotify on Linux), and `minorch up`
picks up real file changes through it: a new file, an edit, a delete, a rename, a new subfolder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from conftest import wait_until

from minorch.watcher import DagWatcher, folders_to_watch

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")

TASK = """
[dags.{dag}.tasks.write]
command = "true"
"""


def quiet(watcher: DagWatcher, folders: list[Path], config: list[Path], skip: Path | None = None) -> bool:
    """After the first call (always True), whether the next call says nothing changed."""
    watcher.changed(folders, config, skip)
    return not watcher.changed(folders, config, skip)


@linux
def test_each_kind_of_change_is_seen_once_and_a_quiet_folder_is_quiet(tmp_path: Path):
    dags = tmp_path / "dags"
    dags.mkdir()
    config = [tmp_path / "minorch.toml"]
    config[0].write_text("")
    (dags / "a.toml").write_text("x")
    watcher = DagWatcher()
    try:
        assert watcher.changed([dags], config, None)  # the first call always looks
        assert watcher.native
        assert not watcher.changed([dags], config, None)
        changes = [
            lambda: (dags / "b.toml").write_text("new"),
            lambda: (dags / "a.toml").write_text("edited"),
            lambda: (dags / "b.toml").unlink(),
            lambda: (dags / "a.toml").rename(dags / "c.toml"),
            lambda: (dags / "sub").mkdir(),
            lambda: (dags / "sub" / "d.py").write_text("# a file in the new subfolder"),
            lambda: os.utime(dags / "c.toml", (1, 1)),
            lambda: config[0].write_text("[minorch]\n"),
        ]
        for change in changes:
            change()
            assert watcher.changed([dags], config, None)
            assert not watcher.changed([dags], config, None)
    finally:
        watcher.close()


@linux
def test_skipped_folders_and_the_state_folder_are_not_watched(tmp_path: Path):
    (tmp_path / "dags" / "_helpers").mkdir(parents=True)
    (tmp_path / "dags" / ".git").mkdir()
    (tmp_path / "dags" / "state").mkdir()
    (tmp_path / "dags" / "team").mkdir()
    found = folders_to_watch([tmp_path / "dags"], [tmp_path / "minorch.toml"], tmp_path / "dags" / "state")
    assert found == [tmp_path, tmp_path / "dags", tmp_path / "dags" / "team"]
    watcher = DagWatcher()
    try:
        assert quiet(watcher, [tmp_path / "dags"], [], tmp_path / "dags" / "state")
        (tmp_path / "dags" / "state" / "minorch.db").write_text("busy")
        (tmp_path / "dags" / "_helpers" / "util.py").write_text("x = 1")
        assert not watcher.changed([tmp_path / "dags"], [], tmp_path / "dags" / "state")
    finally:
        watcher.close()


@linux
def test_a_dag_folder_made_later_is_seen_through_its_parent(tmp_path: Path):
    later = tmp_path / "later" / "dags"
    watcher = DagWatcher()
    try:
        assert quiet(watcher, [later], [])
        later.mkdir(parents=True)
        assert watcher.changed([later], [], None)
        assert not watcher.changed([later], [], None)
        (later / "x.toml").write_text("x")
        assert watcher.changed([later], [], None)
    finally:
        watcher.close()


class CountingInits:
    """libc as the watcher uses it, counting the inotify instances it makes."""

    def __init__(self, libc) -> None:
        self.libc, self.made = libc, 0

    def inotify_init1(self, flags: int) -> int:
        self.made += 1
        return self.libc.inotify_init1(flags)

    def __getattr__(self, name: str):
        return getattr(self.libc, name)


@linux
def test_one_inotify_instance_is_kept_across_changes_and_follows_a_renamed_subfolder(tmp_path: Path):
    """Closing an instance on each change would make the scheduler's loop wait for a kernel grace period."""
    dags = tmp_path / "dags"
    (dags / "team").mkdir(parents=True)
    watcher = DagWatcher()
    watcher._libc = counting = CountingInits(watcher._libc)
    try:
        assert quiet(watcher, [dags], [])
        (dags / "team").rename(dags / "group")
        assert watcher.changed([dags], [], None)
        assert not watcher.changed([dags], [], None)  # the old path's watch removed without a false alarm
        (dags / "group" / "x.toml").write_text("x")
        assert watcher.changed([dags], [], None)  # the folder is watched under its new name
        (dags / "group").rename(tmp_path / "away")
        assert watcher.changed([dags], [], None)
        (tmp_path / "away" / "y.toml").write_text("y")
        assert not watcher.changed([dags], [], None)  # a folder moved out is no longer watched
        assert counting.made == 1
    finally:
        watcher.close()


def test_other_folders_or_no_inotify_mean_look_now(tmp_path: Path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    watcher = DagWatcher()
    try:
        watcher.changed([tmp_path / "a"], [], None)
        assert watcher.changed([tmp_path / "b"], [], None)  # the settings named other folders
    finally:
        watcher.close()
    polling = DagWatcher()
    polling._libc = None  # what a system without inotify has
    assert polling.changed([tmp_path / "a"], [], None)
    assert polling.changed([tmp_path / "a"], [], None)
    assert not polling.native


def dag_ids(project) -> set[str]:
    store = project.store()
    try:
        return set(store.dag_rows())
    finally:
        store.close()


def files(project) -> dict[str, str]:
    store = project.store()
    try:
        return {dag_id: row.file or "" for dag_id, row in store.dag_rows().items()}
    finally:
        store.close()


def test_up_picks_up_new_edited_deleted_renamed_files_and_new_subfolders(project, up_processes):
    project.write("dags/first.toml", TASK.format(dag="first"))
    up = up_processes(project)
    up.ready()
    assert wait_until(lambda: "first" in dag_ids(project), timeout=5)

    project.write("dags/second.toml", TASK.format(dag="second"))  # a new file
    assert wait_until(lambda: "second" in dag_ids(project), timeout=5)

    project.write("dags/second.toml", TASK.format(dag="second") + TASK.format(dag="third"))  # an edit
    assert wait_until(lambda: "third" in dag_ids(project), timeout=5)

    (project.root / "dags" / "first.toml").rename(project.root / "dags" / "renamed.toml")  # a rename
    assert wait_until(lambda: files(project).get("first", "").endswith("renamed.toml"), timeout=5)

    project.write("dags/team/nested/fourth.py", PY_DAG)  # a new subfolder, two deep, with a file
    assert wait_until(lambda: "fourth" in dag_ids(project), timeout=5)

    project.write("dags/team/nested/fifth.toml", TASK.format(dag="fifth"))  # a file in that new subfolder
    assert wait_until(lambda: "fifth" in dag_ids(project), timeout=5)

    (project.root / "dags" / "second.toml").unlink()  # a delete: its two DAGs go, three stay
    up.wait_for(lambda e: "reloaded DAG files: 3 DAGs" in e.get("message", ""), timeout=5)


PY_DAG = """
from minorch import DAG, shell

with DAG("fourth"):
    shell("hello", "true")
"""
