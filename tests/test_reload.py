"""A running `minorch up` picks up DAG file edits, keeps the last good version of a broken file,
runs @reboot DAGs once per start, and takes manual runs queued by `minorch trigger`."""

from __future__ import annotations

from conftest import wait_until

from minorch.states import RunState

EVERY_SECOND = """
[dags.report]
schedule = "* * * * * *"

[dags.report.tasks.write]
command = "echo {version} >> out.txt"
"""

GOOD = """
[dags.report.tasks.write]
command = "echo v1 >> out.txt"
"""


def dag_ids(project) -> set[str]:
    store = project.store()
    try:
        return set(store.dag_rows())
    finally:
        store.close()


def runs(project, dag_id: str):
    store = project.store()
    try:
        return store.runs(dag_id)
    finally:
        store.close()


def load_errors(project) -> list:
    store = project.store()
    try:
        return store.load_errors()
    finally:
        store.close()


def test_a_new_dag_file_is_picked_up_and_a_broken_edit_keeps_the_last_good_version(project, up_processes):
    project.write("dags/report.toml", EVERY_SECOND.format(version="v1"))
    up = up_processes(project)
    up.ready()
    project.write("dags/extra.toml", GOOD.replace("report", "extra"))
    assert wait_until(lambda: "extra" in dag_ids(project), timeout=5)

    project.write("dags/report.toml", "[dags.report.tasks.write\ncommand = 'oops'\n")
    assert wait_until(lambda: any("report.toml:1" in e[2] for e in load_errors(project)), timeout=5)
    broken_at = len(runs(project, "report"))
    assert wait_until(
        lambda: len([r for r in runs(project, "report") if r.state is RunState.SUCCESS]) > broken_at + 1, timeout=6
    )
    assert set((project.root / "out.txt").read_text().split()) == {"v1"}  # the last good version runs

    project.write("dags/report.toml", EVERY_SECOND.format(version="v2"))
    assert wait_until(lambda: not load_errors(project), timeout=5)
    assert wait_until(lambda: "v2" in (project.root / "out.txt").read_text(), timeout=5)


def test_a_reboot_dag_runs_once_per_start_of_the_scheduler(project, up_processes):
    project.write(
        "dags/boot.toml",
        """
        [dags.boot]
        schedule = "@reboot"

        [dags.boot.tasks.hello]
        command = "echo booted >> boots.txt"
    """,
    )
    for starts in (1, 2):
        up = up_processes(project)
        up.ready()
        assert wait_until(
            lambda starts=starts: len([r for r in runs(project, "boot") if r.state.finished]) == starts, timeout=5
        )
        up.kill()  # the next start may come within the same second: it still gets its own run
    assert (project.root / "boots.txt").read_text() == "booted\nbooted\n"


def test_a_triggered_run_starts_within_a_second_under_a_running_scheduler(project, up_processes):
    project.write("dags/report.toml", GOOD)
    up = up_processes(project)
    up.ready()
    done = project.minorch("trigger", "report", "--param", "who=ci")
    assert done.returncode == 0, done.stderr
    [run] = runs(project, "report")
    assert wait_until(lambda: runs(project, "report")[0].start_date, timeout=5)
    started = runs(project, "report")[0].start_date
    assert started - run.queued_at < 1.0


def test_a_dag_added_to_minorch_toml_itself_is_picked_up(project, up_processes):
    up = up_processes(project)
    up.ready()
    with open(project.root / "minorch.toml", "a") as config:
        config.write('\n[dags.inline.tasks.hello]\ncommand = "true"\n')
    assert wait_until(lambda: "inline" in dag_ids(project), timeout=5)
