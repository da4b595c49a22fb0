"""DAGs written the way Airflow's documentation and tutorials teach, ported construct for construct
to minorch, run for real (real scheduler, real child processes, a real state file); each test asserts
the task states and run state Airflow documents for that DAG."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wait_until

from minorch import operations
from minorch.states import RunState

ROOT = Path(__file__).resolve().parent.parent


def states(result) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in result.tis.items()}


# ---------------------------------------------------------------- trigger rules


def test_the_four_newer_trigger_rules_decide_as_airflow_documents(project):
    """Airflow's trigger-rule guide: one_done, all_done_min_one_success, all_skipped over a success,
    a failure and a skip."""
    project.write(
        "dags/rules.py",
        """
        from minorch import DAG, SkipTask, shell, task

        with DAG("rules"):
            ok = shell("ok", "true")
            bad = shell("bad", "exit 1")

            @task
            def skip():
                raise SkipTask("nothing to do")

            skipped = skip()
            one_done = shell("one_done", "true", trigger_rule="one_done")
            [bad, skipped] >> one_done
            one_done_none = shell("one_done_none", "true", trigger_rule="one_done")
            skipped >> one_done_none
            min_one = shell("min_one", "true", trigger_rule="all_done_min_one_success")
            [ok, bad] >> min_one
            min_one_none = shell("min_one_none", "true", trigger_rule="all_done_min_one_success")
            bad >> min_one_none
            min_one_skip = shell("min_one_skip", "true", trigger_rule="all_done_min_one_success")
            [ok, skipped] >> min_one_skip
            all_skipped = shell("all_skipped", "true", trigger_rule="all_skipped")
            skipped >> all_skipped
            not_all_skipped = shell("not_all_skipped", "true", trigger_rule="all_skipped")
            [ok, skipped] >> not_all_skipped
        """,
    )
    result = project.run("rules")
    assert states(result) == {
        "ok": "success",
        "bad": "failed",
        "skip": "skipped",
        "one_done": "success",
        "one_done_none": "skipped",
        "min_one": "success",
        "min_one_none": "upstream_failed",
        "min_one_skip": "skipped",
        "all_skipped": "success",
        "not_all_skipped": "skipped",
    }
    assert result.run.state is RunState.FAILED


# ---------------------------------------------------------------- setup and teardown (Airflow 3)

SETUP_TEARDOWN = """
from minorch import DAG, shell

with DAG("cluster"):
    create = shell("create_cluster", "{create}")
    run_query = shell("run_query", "{work}")
    delete = shell("delete_cluster", "{delete}")
    create >> run_query >> delete.as_teardown(setups=create{fail_run})
"""


def _cluster(project, create="true", work="true", delete="true", fail_run=""):
    project.write("dags/cluster.py", SETUP_TEARDOWN.format(create=create, work=work, delete=delete, fail_run=fail_run))
    return project.run("cluster")


def test_a_teardown_runs_after_failed_work_and_the_run_still_fails(project):
    result = _cluster(project, work="exit 1")
    assert states(result) == {"create_cluster": "success", "run_query": "failed", "delete_cluster": "success"}
    assert result.run.state is RunState.FAILED


def test_a_failed_teardown_does_not_fail_the_run(project):
    result = _cluster(project, delete="exit 1")
    assert states(result) == {"create_cluster": "success", "run_query": "success", "delete_cluster": "failed"}
    assert result.run.state is RunState.SUCCESS


def test_a_failed_teardown_fails_the_run_with_on_failure_fail_dagrun(project):
    result = _cluster(project, delete="exit 1", fail_run=", on_failure_fail_dagrun=True")
    assert states(result)["delete_cluster"] == "failed"
    assert result.run.state is RunState.FAILED


def test_when_the_setup_fails_neither_work_nor_teardown_runs(project):
    result = _cluster(project, create="exit 1")
    assert states(result) == {
        "create_cluster": "failed",
        "run_query": "upstream_failed",
        "delete_cluster": "upstream_failed",
    }
    assert result.run.state is RunState.FAILED


def test_clearing_a_work_task_clears_its_setup_and_teardown(project):
    result = _cluster(project, work="exit 1")
    store = project.store()
    try:
        cleared = operations.clear(store, result.dag, result.run, ["run_query"], now=0.0)
    finally:
        store.close()
    assert cleared == ["create_cluster", "run_query", "delete_cluster"]


def test_setup_and_teardown_decorators_and_the_teardown_scope_block(project):
    """`@setup`/`@teardown` and `with teardown.as_teardown(setups=...)`: the tasks made in the block
    run after the setup and before the teardown; the teardown runs although one of them failed."""
    project.write(
        "dags/scoped.py",
        """
        from minorch import DAG, setup, shell, task, teardown

        with DAG("scoped"):
            @setup
            def create_bucket():
                open("bucket", "w").write("made")
                return "bucket"

            @teardown
            def delete_bucket():
                import os
                os.remove("bucket")

            bucket = create_bucket()
            with delete_bucket().as_teardown(setups=bucket):
                first = shell("fill", "test -f bucket && echo one >> bucket")
                second = shell("check", "grep -q two bucket")
                first >> second
            shell("report", "true")
        """,
    )
    result = project.run("scoped")
    assert states(result) == {
        "create_bucket": "success",
        "fill": "success",
        "check": "failed",
        "delete_bucket": "success",
        "report": "success",
    }
    assert result.dag.tasks["fill"].upstream == ["create_bucket"]
    assert sorted(result.dag.tasks["delete_bucket"].upstream) == ["check", "create_bucket"]
    assert not (project.root / "bucket").exists()
    assert result.run.state is RunState.FAILED


def test_setup_and_teardown_in_toml(project):
    project.write(
        "dags/cluster.toml",
        """
        [dags.cluster.tasks.create]
        command = "true"
        setup = true

        [dags.cluster.tasks.work]
        command = "exit 1"
        after = ["create"]

        [dags.cluster.tasks.delete]
        command = "true"
        after = ["work"]
        teardown = { setups = ["create"] }
        """,
    )
    result = project.run("cluster")
    assert states(result) == {"create": "success", "work": "failed", "delete": "success"}
    assert result.run.state is RunState.FAILED


# ---------------------------------------------------------------- task groups


def test_task_groups_as_airflows_tutorial_writes_them_run_and_draw_as_blocks(project):
    """Airflow's task group example: a start task, a group of two chained tasks, a nested group,
    an end task; `start >> group >> end` links the group's roots and leaves."""
    project.write(
        "dags/grouped.py",
        """
        from minorch import DAG, TaskGroup, shell, task_group

        with DAG("grouped", doc_md="Groups of tasks, as Airflow draws them.") as dag:
            start = shell("start", "true")
            with TaskGroup("section_1", tooltip="Tasks for section_1") as section_1:
                task_1 = shell("task_1", "echo 1")
                task_2 = shell("task_2", "echo 2")
                with TaskGroup("inner_section_1") as inner:
                    task_3 = shell("task_3", "echo 3")
                task_1 >> [task_2, inner]

            @task_group
            def section_2():
                shell("task_1", "echo 4")

            end = shell("end", "true")
            start >> section_1 >> section_2() >> end
        """,
    )
    result = project.run("grouped")
    assert states(result) == {
        "start": "success",
        "section_1.task_1": "success",
        "section_1.task_2": "success",
        "section_1.inner_section_1.task_3": "success",
        "section_2.task_1": "success",
        "end": "success",
    }
    tasks = result.dag.tasks
    assert tasks["section_2.task_1"].upstream == ["section_1.task_2", "section_1.inner_section_1.task_3"]
    dot = project.minorch("graph", "grouped", "--format", "dot").stdout
    assert 'subgraph "cluster_section_1" { label="section_1";' in dot
    assert '    subgraph "cluster_section_1.inner_section_1"' in dot
    mermaid = project.minorch("graph", "grouped", "--format", "mermaid").stdout
    assert "subgraph section_2 [section_2]" in mermaid
    text = project.minorch("graph", "grouped").stdout
    assert "Groups of tasks, as Airflow draws them." in text


def test_task_groups_in_toml_link_by_group_name_and_short_names(project):
    project.write(
        "dags/grouped.toml",
        """
        [dags.grouped.groups.extract]
        tooltip = "Pull the sources"

        [dags.grouped.groups.load]
        after = ["extract"]

        [dags.grouped.groups.check]
        group = "load"
        prefix_group_id = false

        [dags.grouped.tasks.orders]
        group = "extract"
        command = "echo orders"

        [dags.grouped.tasks.customers]
        group = "extract"
        command = "echo customers"
        after = ["orders"]

        [dags.grouped.tasks.write]
        group = "load"
        command = "exit 1"

        [dags.grouped.tasks.count]
        group = "check"
        command = "true"
        after = ["load.write"]

        [dags.grouped.tasks.report]
        command = "true"
        after = ["load"]
        trigger_rule = "all_done"
        """,
    )
    result = project.run("grouped")
    assert states(result) == {
        "extract.orders": "success",
        "extract.customers": "success",
        "load.write": "failed",
        "load.count": "upstream_failed",  # group check does not prefix: its tasks take load's prefix
        "report": "success",
    }
    assert result.dag.tasks["load.write"].upstream == ["extract.customers"]
    assert result.dag.tasks["report"].upstream == ["load.count"]


def test_an_unknown_task_group_is_one_line_with_a_suggestion(project):
    project.write(
        "dags/grouped.toml",
        """
        [dags.grouped.groups.extract]

        [dags.grouped.tasks.orders]
        group = "extrakt"
        command = "true"
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert "dags/grouped.toml:5: task 'orders' is in group 'extrakt', which is not defined" in done.stdout + done.stderr
    assert "did you mean 'extract'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- TaskFlow calls


def test_taskflow_calls_as_airflow_writes_them(project):
    """Positional arguments, one function called three times (`add`, `add__1`, `add__2`), `.override`,
    `chain` of two lists one to one, `cross_downstream`, a `Label` — run for real."""
    project.write(
        "dags/taskflow.py",
        """
        from minorch import DAG, Label, chain, cross_downstream, shell, task

        with DAG("taskflow") as dag:
            @task
            def number(n):
                return n

            @task
            def add(a, b):
                return a + b

            @task
            def show(total, expected):
                assert total == expected, (total, expected)

            one, two = number(1), number.override(task_id="two")(2)
            three = add(one, two)
            six = add(three, add(one, 2))
            show(six, 6)
            left = [shell("l1", "true"), shell("l2", "true")]
            right = [shell("r1", "true"), shell("r2", "true")]
            chain(six, left, right)
            cross_downstream(right, [shell("x1", "true"), shell("x2", "true")])
            shell("audit", "true", trigger_rule="all_done") << Label("always audit") << six
        """,
    )
    result = project.run("taskflow")
    assert set(states(result).values()) == {"success"}
    assert list(result.dag.tasks)[:6] == ["number", "two", "add", "add__1", "add__2", "show"]
    tasks = result.dag.tasks
    assert tasks["r1"].upstream == ["l1"] and tasks["r2"].upstream == ["l2"]
    assert tasks["x2"].upstream == ["r1", "r2"]
    assert "add__2 -->|always audit| audit" in project.minorch("graph", "taskflow", "--format", "mermaid").stdout


# ---------------------------------------------------------------- results (XCom) as Airflow has them


def test_keyed_results_multiple_outputs_shell_last_lines_and_pulls_from_any_task(project):
    """Airflow's XCom tutorial: push under a key, pull by task_ids/key from a task that is not a direct
    upstream, multiple_outputs, a Bash-style task's last output line, and ti.xcom_pull in a template."""
    project.write(
        "dags/xcoms.py",
        """
        from minorch import DAG, shell, task

        with DAG("xcoms"):
            @task
            def push(ti):
                ti.xcom_push(key="rows", value=42)
                return "done"

            @task(multiple_outputs=True)
            def totals():
                return {"count": 3, "sum": 12}

            count = shell("count", "echo counting >&2; echo 7")

            @task
            def far(ti):
                assert ti.xcom_pull(task_ids="push", key="rows") == 42
                assert ti.xcom_pull(task_ids=["push", "count"]) == ["done", "7"]
                assert ti.xcom_pull(task_ids="totals", key="sum") == 12
                return ti.xcom_pull(task_ids="missing", default="none")

            @task
            def mean(count, total):
                return total / count

            pushed, sums = push(), totals()
            middle = shell("middle", "true")
            pushed >> middle >> far()
            [sums, count] >> middle
            mean(sums["count"], sums["sum"])
            shell("report", "test {{ ti.xcom_pull(task_ids='push', key='rows') }} = 42 && echo {{ xcom.count }}",
                  do_xcom_push=False) << count << pushed
        """,
    )
    result = project.run("xcoms")
    assert set(states(result).values()) == {"success"}, states(result)
    store = project.store()
    try:
        pull = lambda tid, key="return_value": store.pull_xcom(result.run.pk, tid, key)  # noqa: E731
        assert pull("push") == "done" and pull("push", "rows") == 42
        assert pull("totals") == {"count": 3, "sum": 12} and pull("totals", "count") == 3
        assert pull("count") == "7"
        assert pull("far") == "none"
        assert pull("mean") == 4.0
        assert pull("report") is None
    finally:
        store.close()


# ---------------------------------------------------------------- the template context


def test_the_template_context_airflow_users_reach_for(project):
    project.write(
        "dags/context.py",
        """
        from minorch import DAG, shell, task

        with DAG("context", params={"table": "orders"}):
            shell(
                "show",
                "test '{{ dag_run.conf.region }}' = eu && test '{{ conf.region }}' = eu"
                " && test '{{ ti.task_id }}' = show && test '{{ ti.try_number }}' = 1"
                " && test '{{ task_instance_key_str }}' = context__show__20240115"
                " && test '{{ macros.ds_add(ds, 1) }}' = 2024-01-16"
                " && test '{{ dag.dag_id }}' = context && test '{{ dag_run.run_type }}' = manual"
                " && test \\"$TARGET\\" = orders_20240115",
                env={"TARGET": "{{ params.table }}_{{ ds_nodash }}"},
            )

            @task
            def python_side(dag_run, ti, conf):
                assert dag_run.conf == {"region": "eu"} and conf == {"region": "eu"}
                assert ti.task_id == "python_side" and dag_run.logical_date.year == 2024

            python_side()
            shell("needs_var", "echo {{ var.value.bucket }}")
        """,
    )
    result = project.run("context", params={"region": "eu"})
    assert states(result) == {"show": "success", "python_side": "success", "needs_var": "failed"}
    log = Path(result.attempts["needs_var"][-1].log_path).read_text()
    assert "unknown variable 'bucket' (define it under [variables] in minorch.toml" in log


# ---------------------------------------------------------------- scheduling options


def _drive(project, dag_id: str, *moments: tuple[str, str]) -> list:
    """Runs of `dag_id` for (ISO date, run type) pairs, created together and run to the end for real."""
    from minorch.durations import parse_date
    from minorch.foreground import drive
    from minorch.registry import load

    settings = project.settings()
    registry = load(settings)
    assert not registry.errors, [str(e) for e in registry.errors]
    dag = registry.dags[dag_id]

    def create(sched):
        now = sched.clock.now()
        made = []
        for date, run_type in moments:
            moment = parse_date(date, name="date", tz=dag.timezone)
            made.append(sched.create_run(dag, moment, run_type, now=now, logical=True)[0])
        return made

    return drive(settings, registry, create, lambda line: None, install_signals=False)


def test_branching_between_empty_start_and_join_as_airflows_example_branch_operator(project):
    project.write(
        "dags/branchy.py",
        """
        from minorch import DAG, empty, task

        with DAG("branchy"):
            run_this_first = empty("run_this_first")

            @task.branch
            def branching():
                return "branch_b"

            chosen = branching()
            join = empty("join", trigger_rule="none_failed_min_one_success")
            run_this_first >> chosen
            for option in ("branch_a", "branch_b", "branch_c"):
                chosen >> empty(option) >> empty(f"follow_{option}") >> join
        """,
    )
    result = project.run("branchy")
    assert states(result) == {
        "run_this_first": "success",
        "branching": "success",
        "branch_a": "skipped",
        "follow_branch_a": "skipped",
        "branch_b": "success",
        "follow_branch_b": "success",
        "branch_c": "skipped",
        "follow_branch_c": "skipped",
        "join": "success",
    }
    assert result.attempts.get("join", []) == [] and result.attempts.get("run_this_first", []) == []  # no process


def test_depends_on_past_holds_a_task_until_its_previous_instance_succeeded(project):
    project.write(
        "dags/past.toml",
        """
        [dags.past]
        schedule = "@daily"
        max_active_runs = 2

        [dags.past.tasks.prepare]
        command = "true"

        [dags.past.tasks.load]
        command = "echo start {{ ds }} >> order.txt; sleep 0.5; echo end {{ ds }} >> order.txt"
        depends_on_past = true
        """,
    )
    first, second = _drive(project, "past", ("2024-01-15", "scheduled"), ("2024-01-16", "scheduled"))
    assert states(first) == states(second) == {"prepare": "success", "load": "success"}
    events = [line.split() for line in (project.root / "order.txt").read_text().splitlines()]
    assert [e[:2] for e in events] == [
        ["start", "2024-01-15"],
        ["end", "2024-01-15"],
        ["start", "2024-01-16"],
        ["end", "2024-01-16"],
    ]


def test_latest_only_skips_downstream_in_an_old_scheduled_run_but_not_in_a_manual_one(project):
    """Airflow's example_latest_only_with_trigger: latest_only >> task1 >> [task3, task4]; task2 >> ..."""
    project.write(
        "dags/latest.py",
        """
        from datetime import timedelta
        from minorch import DAG, empty, latest_only

        with DAG("latest", schedule=timedelta(hours=4)):
            latest = latest_only("latest_only")
            task1, task2 = empty("task1"), empty("task2")
            task3, task4 = empty("task3"), empty("task4", trigger_rule="all_done")
            latest >> task1 >> [task3, task4]
            task2 >> [task3, task4]
        """,
    )
    [old] = _drive(project, "latest", ("2024-01-15T08:00", "scheduled"))
    assert states(old) == {
        "latest_only": "success",
        "task1": "skipped",
        "task2": "success",
        "task3": "skipped",
        "task4": "success",
    }
    assert old.dag.schedule.kind == "interval"
    assert set(states(project.run("latest")).values()) == {"success"}


def test_priority_weight_orders_launches_when_slots_are_short(project):
    config = project.root / "minorch.toml"
    config.write_text(config.read_text().replace("parallelism = 4", "parallelism = 1"))
    project.write(
        "dags/prio.py",
        """
        from minorch import DAG, shell

        with DAG("prio", weight_rule="absolute"):
            for name, weight in (("low", 1), ("high", 10), ("middle", 5)):
                shell(name, f"echo {name} >> order.txt", priority_weight=weight)
        """,
    )
    assert project.run("prio").exit_code == 0
    assert (project.root / "order.txt").read_text().split() == ["high", "middle", "low"]


def test_airflow_names_get_a_hint_with_minorchs_name(project):
    project.write(
        "dags/old.py",
        """
        from minorch import DAG, shell

        with DAG("old", schedule_interval="@daily"):
            shell("a", "true")
        """,
    )
    project.write("dags/timeout.toml", '[dags.t.tasks.a]\ncommand = "true"\nexecution_timeout = "1h"\n')
    done = project.minorch("validate")
    out = done.stdout + done.stderr
    assert (
        "dags/old.py:4: unknown DAG option 'schedule_interval' "
        "(did you mean 'schedule'? (Airflow's 'schedule_interval' is 'schedule'" in out
    )
    assert (
        "dags/timeout.toml:3: unknown task option 'execution_timeout' "
        "(did you mean 'timeout'? (Airflow's 'execution_timeout' is 'timeout'" in out
    )
    assert done.returncode == 1 and "Traceback" not in out


# ---------------------------------------------------------------- data intervals


def test_data_interval_point_makes_the_interval_the_logical_date_as_airflow_3_does(project):
    """Airflow 3's CronTriggerTimetable: data_interval_start == data_interval_end == logical date.
    minorch's default keeps [previous fire, this fire]; `data_interval = "point"` asks for Airflow 3's."""
    for dag_id, extra in (("prev", ""), ("point", 'data_interval = "point"')):
        project.write(
            f"dags/{dag_id}.toml",
            f"""
            [dags.{dag_id}]
            schedule = "30 2 * * *"
            {extra}
            [dags.{dag_id}.tasks.show]
            command = "echo '{{{{ data_interval_start }}}} {{{{ data_interval_end }}}}' > {dag_id}.txt"
            """,
        )
    project.write(
        "dags/af.py",
        """
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.operators.bash import BashOperator

        with DAG("af", schedule="30 2 * * *", start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="show", bash_command="echo '{{ data_interval_start }}' > af.txt")
        """,
    )
    for dag_id in ("prev", "point", "af"):
        assert states(project.run(dag_id, "2024-01-15T02:30:00+00:00")) == {"show": "success"}
    assert (project.root / "prev.txt").read_text().split() == ["2024-01-14T02:30:00+00:00", "2024-01-15T02:30:00+00:00"]
    assert (project.root / "point.txt").read_text().split() == ["2024-01-15T02:30:00+00:00"] * 2
    assert (project.root / "af.txt").read_text().strip() == "2024-01-15T02:30:00+00:00"  # Airflow 3's default


def test_data_interval_point_with_interval_semantics_is_one_line_naming_both(project):
    project.write(
        "dags/both.toml",
        """
        [dags.both]
        schedule = "@daily"
        interval_semantics = true
        data_interval = "point"
        [dags.both.tasks.a]
        command = "true"
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert 'dags/both.toml:5: data_interval = "point" contradicts interval_semantics = true' in done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- typed params


def test_typed_params_are_checked_when_a_run_is_made(project):
    """Airflow's params example: typed Params with defaults; --param/--conf values are checked before
    any run exists, and a wrong one is one line naming the param, exit 2."""
    project.write(
        "dags/report.py",
        """
        from minorch import DAG, Param, task

        with DAG("report", params={
            "days": Param(7, type="integer", minimum=1, maximum=31),
            "region": Param("eu", type="string", enum=["eu", "us"]),
            "note": "plain value",
        }):
            @task
            def show(params):
                print(params["days"], params["region"], params["note"])
                return [params["days"], params["region"]]

            show()
        """,
    )
    project.write(
        "dags/typed.toml",
        """
        [dags.typed.params]
        level = { default = "info", enum = ["info", "debug"] }

        [dags.typed.tasks.echo]
        command = "test {{ params.level }} = debug"
        """,
    )
    done = project.minorch("run", "report", "--conf", '{"days": 14}', "--param", "region=us")
    assert done.returncode == 0, done.stdout + done.stderr
    bad = project.minorch("run", "report", "--param", "days=40")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "minorch: error: param 'days': 40 is more than the maximum 31 "
        "(pass --param days=... with a value of type integer)"
    )
    wrong = project.minorch("trigger", "report", "--conf", '{"region": "asia"}')
    assert wrong.returncode == 2 and "param 'region': 'asia' is not one of ['eu', 'us']" in wrong.stderr
    assert project.minorch("run", "typed", "--param", "level=debug").returncode == 0
    assert project.minorch("run", "typed", "--param", "level=trace").returncode == 2
    store = project.store()
    try:
        assert [r.state.value for r in store.runs("report")] == ["success"]  # the refused ones made no run
        assert store.pull_xcom(store.runs("report")[0].pk, "show") == [14, "us"]
    finally:
        store.close()


def test_a_default_that_breaks_its_own_param_is_a_load_error_with_the_line(project):
    project.write(
        "dags/bad.toml",
        """
        [dags.bad.params]
        days = { default = 0, type = "integer", minimum = 1 }

        [dags.bad.tasks.a]
        command = "true"
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert "dags/bad.toml:3: param 'days': its default 0 is less than the minimum 1" in done.stderr


# ---------------------------------------------------------------- sensors


def test_a_python_sensor_pokes_as_short_tries_until_done_and_passes_its_value(project):
    """Airflow's @task.sensor example: falsy until ready, then PokeReturnValue(is_done=True, xcom_value=...)."""
    project.write(
        "dags/sensing.py",
        """
        from minorch import DAG, PokeReturnValue, task

        with DAG("sensing"):
            @task.sensor(poke_interval=1, timeout=30)
            def wait_for_upstream():
                import os
                pokes = int(open("pokes").read()) + 1 if os.path.exists("pokes") else 1
                open("pokes", "w").write(str(pokes))
                return PokeReturnValue(is_done=pokes >= 3, xcom_value={"pokes": pokes})

            @task
            def use(found):
                assert found == {"pokes": 3}, found

            use(wait_for_upstream())

            @task.sensor(poke_interval=1, timeout=30)
            def broken():
                raise RuntimeError("cannot reach the API")

            broken()
        """,
    )
    result = project.run("sensing")
    assert states(result) == {"wait_for_upstream": "success", "use": "success", "broken": "failed"}
    assert (project.root / "pokes").read_text() == "3"
    assert len(result.attempts["wait_for_upstream"]) == 3 and len(result.attempts["broken"]) == 1


def test_time_weekday_and_cross_dag_sensors_as_airflow_has_them(project):
    import datetime as dt

    today = dt.datetime.now(dt.timezone.utc).strftime("%A").lower()
    project.write(
        "dags/upstream.toml",
        """
        [dags.upstream.tasks.load]
        command = "exit 1"

        [dags.upstream.tasks.publish]
        command = "true"
        """,
    )
    project.write(
        "dags/waiting.py",
        f"""
        from datetime import timedelta
        from minorch import DAG, day_of_week_sensor, external_task_sensor, time_delta_sensor

        with DAG("waiting", poke_interval=0.1, timeout=20):
            time_delta_sensor("after_interval", timedelta(0))
            day_of_week_sensor("weekday", ["{today}"])
            external_task_sensor("published", "upstream", "publish", execution_delta=timedelta(hours=1))
            external_task_sensor("loaded", "upstream", "load", failed_states=["failed", "upstream_failed"])
        """,
    )
    assert project.run("upstream", date="2024-01-15T05:00").exit_code == 1
    result = project.run("waiting", date="2024-01-15T06:00")
    assert states(result) == {
        "after_interval": "success",
        "weekday": "success",
        "published": "success",
        "loaded": "failed",  # failed_states: at once, not after the 20 s timeout
    }
    assert result.duration < 15
    assert "sensor failed: upstream.load is failed for 2024-01-15" in result.tis["loaded"].note


def test_an_external_task_sensor_with_execution_date_fn_looks_at_the_dates_it_returns(project):
    """Airflow's execution_date_fn: called with the logical date (and the context names it takes); a list means
    every one of those runs; a failed state among them fails the sensor at once, with one line."""
    project.write(
        "dags/upstream.toml",
        """
        [dags.upstream.tasks.load]
        command = "test {{ logical_date.hour }} != 3"
        """,
    )
    project.write(
        "dags/watch.py",
        """
        from datetime import timedelta
        from minorch import DAG, external_task_sensor

        def two_hours_before(logical_date, ds):
            assert ds == logical_date.strftime("%Y-%m-%d")
            return [logical_date - timedelta(hours=2), logical_date - timedelta(hours=1)]

        with DAG("watch", poke_interval=2, timeout=60):
            external_task_sensor("both_loaded", "upstream", "load", execution_date_fn=two_hours_before,
                                 failed_states=["failed"])
            external_task_sensor("hour_before", "upstream", "load", failed_states=["failed"],
                                 execution_date_fn=lambda dt: dt - timedelta(hours=1))
        """,
    )
    for hour in ("01", "02", "03"):
        project.run("upstream", date=f"2024-01-15T{hour}:00")
    ok = project.run("watch", date="2024-01-15T03:00")  # looks at 01:00 and 02:00: both succeeded
    assert states(ok) == {"both_loaded": "success", "hour_before": "success"}
    bad = project.run("watch", date="2024-01-15T04:00")  # 02:00 succeeded, 03:00 failed
    assert states(bad) == {"both_loaded": "failed", "hour_before": "failed"}
    assert len(bad.attempts["both_loaded"]) == 1  # failed_states: the first poke fails it, no waiting
    log = Path(bad.attempts["both_loaded"][-1].log_path).read_text()
    assert "upstream.load is failed for 2024-01-15T03:00:00+00:00" in log and "Traceback" not in log


MARKED = """
from minorch import DAG, external_task_marker, shell

with DAG("parent", schedule="@daily"):
    shell("extract", "true") >> external_task_marker("mark_child", "child", "load", recursion_depth={depth})

with DAG("child", schedule="@daily"):
    shell("load", "true") >> [shell("report", "true"), external_task_marker("mark_grandchild", "grandchild", "use")]
    shell("unrelated", "true")

with DAG("grandchild", schedule="@daily"):
    shell("use", "true")
"""


def test_clearing_a_task_clears_the_tasks_its_external_markers_name_in_other_dags(project):
    """Airflow's ExternalTaskMarker: clearing `extract` with downstream reaches the marker, which clears
    child.load and its downstream in the run of the same logical date, and that run's marker the grandchild's."""
    project.write("dags/marked.py", MARKED.format(depth=10))
    for dag_id in ("parent", "child", "grandchild"):
        assert states(project.run(dag_id, date="2024-01-15T00:00:00+00:00"))
    project.run("child", date="2024-01-16T00:00:00+00:00")  # another date: untouched
    done = project.minorch("clear", "parent", "latest", "extract", "--downstream", "--yes")
    assert done.returncode == 0, done.stderr
    child_run = "child run manual__2024-01-15T00:00:00+00:00"
    assert f"through a marker, 3 tasks of {child_run}: load, report, mark_grandchild" in done.stdout
    store = project.store()
    try:

        def left(dag_id: str, date: str = "2024-01-15T00:00:00+00:00") -> dict[str, str]:
            [run] = [r for r in store.runs(dag_id) if r.logical_date == date]
            return {tid: ti.state.value for tid, ti in store.task_instances([run.pk])[run.pk].items()}

        assert left("parent") == {"extract": "none", "mark_child": "none"}
        assert left("child") == {"load": "none", "report": "none", "mark_grandchild": "none", "unrelated": "success"}
        assert left("grandchild") == {"use": "none"}
        assert set(left("child", "2024-01-16T00:00:00+00:00").values()) == {"success"}
    finally:
        store.close()


def test_a_marker_chain_deeper_than_recursion_depth_is_refused_and_clears_nothing(project):
    project.write("dags/marked.py", MARKED.format(depth=1))
    for dag_id in ("parent", "child", "grandchild"):
        project.run(dag_id, date="2024-01-15T00:00:00+00:00")
    done = project.minorch("clear", "parent", "latest", "--yes")
    assert done.returncode == 2
    assert "clearing reached the maximum recursion depth 1 at marker child.mark_grandchild" in done.stderr
    store = project.store()
    try:
        assert {r.state.value for r in store.runs("parent")} == {"success"}
    finally:
        store.close()


def test_an_external_task_marker_in_toml_and_from_airflow(project):
    project.write(
        "dags/child.toml",
        """
        [dags.child.tasks.load]
        command = "true"
        """,
    )
    project.write(
        "dags/parent.toml",
        """
        [dags.parent.tasks.mark]
        marker = { dag = "child", task = "load", logical_date = "{{ macros.ds_add(ds, -1) }}" }
        [dags.parent.tasks.bad]
        marker = { dag = "child", task = "load", depth = 3 }
        """,
    )
    bad = project.minorch("validate")
    assert "dags/parent.toml:5: unknown marker key 'depth'" in bad.stderr
    project.write(
        "dags/parent.toml",
        """
        [dags.parent.tasks.mark]
        marker = { dag = "child", task = "load", logical_date = "{{ macros.ds_add(ds, -1) }}" }
        """,
    )
    project.write(
        "dags/af.py",
        """
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.standard.sensors.external_task import ExternalTaskMarker

        with DAG("af", schedule=None, start_date=datetime(2024, 1, 1)):
            ExternalTaskMarker(task_id="mark", external_dag_id="child", external_task_id="load",
                               logical_date="2024-01-15")
        """,
    )
    for date in ("2024-01-14", "2024-01-15"):
        assert states(project.run("child", date=date)) == {"load": "success"}
    assert states(project.run("parent", date="2024-01-15")) == {"mark": "success"}  # no process
    assert states(project.run("af", date="2024-01-20")) == {"mark": "success"}
    store = project.store()
    try:
        one, two = sorted(store.runs("child"), key=lambda r: r.logical_date)
        assert project.minorch("clear", "parent", "latest", "--yes").returncode == 0
        assert store.task_instance(one.pk, "load").state.value == "none"  # ds - 1 day
        assert store.task_instance(two.pk, "load").state.value == "success"
        assert project.minorch("clear", "af", "latest", "--yes").returncode == 0
        assert store.task_instance(two.pk, "load").state.value == "none"
    finally:
        store.close()


def test_a_weekday_sensor_waits_until_the_next_midnight_on_another_day():
    from datetime import datetime, timezone

    from minorch import sensors
    from minorch.dag import Task

    task = Task(task_id="w", sensor={"weekday": ["saturday", "sunday"]})
    monday = datetime(2024, 1, 15, 10, 0, tzinfo=timezone.utc)
    found = sensors.poke(task, {"timezone": "UTC"}, root=None, now=monday, store=None, dags={})
    assert (found.met, found.check_at) == (False, datetime(2024, 1, 16, tzinfo=timezone.utc))
    saturday = datetime(2024, 1, 20, 10, 0, tzinfo=timezone.utc)
    assert sensors.poke(task, {"timezone": "UTC"}, root=None, now=saturday, store=None, dags={}).met


# ---------------------------------------------------------------- triggering another DAG


TRIGGERING = """
from minorch import DAG, shell, trigger_dag

with DAG("controller"):
    trigger_dag("trigger", "target", conf={{"message": "hello {{{{ ds }}}}"}}, wait_for_completion={wait},
                poke_interval=0.2, timeout=30)

with DAG("target"):
    shell("show", "test {{{{ dag_run.conf.message }}}} = 'hello 2024-01-15'{fail}")
"""


def test_trigger_dag_queues_a_linked_run_of_the_other_dag_with_templated_conf(project):
    """Airflow's example_trigger_controller_dag: the controller triggers the target with a conf."""
    project.write("dags/controller.py", TRIGGERING.format(wait=False, fail=""))
    result = project.run("controller")
    assert states(result) == {"trigger": "success"}
    assert result.tis["trigger"].note == "triggered target run trig__2024-01-15T00:00:00+00:00"
    store = project.store()
    try:
        [triggered] = store.runs("target")
        assert (triggered.run_id, triggered.conf) == (
            "trig__2024-01-15T00:00:00+00:00",
            {"message": "hello 2024-01-15"},
        )
    finally:
        store.close()
    assert project.run("controller").exit_code == 0  # running it again finds the same run: no second one
    store = project.store()
    try:
        assert len(store.runs("target")) == 1
    finally:
        store.close()
    # the link: `runs` shows which run triggered it (a column only when some run has one), as does the UI
    listed = project.minorch("runs", "target")
    assert listed.stdout.splitlines()[0].split()[-2:] == ["triggered", "by"]
    assert listed.stdout.splitlines()[-1].endswith("controller/manual__2024-01-15T00:00:00+00:00")
    assert "triggered by" not in project.minorch("runs", "controller").stdout
    rows = json.loads(project.minorch("runs", "target", "--json").stdout)
    assert [r["triggered_by"] for r in rows] == ["controller/manual__2024-01-15T00:00:00+00:00"]
    from datetime import datetime, timezone

    from minorch.registry import load
    from minorch.tui.model import dag_detail

    store = project.store()
    try:
        detail = dag_detail(store, load(project.settings()), "target", datetime.now(timezone.utc))
        assert list(detail.triggered_by.values()) == [["controller/manual__2024-01-15T00:00:00+00:00"]]
    finally:
        store.close()


@pytest.mark.parametrize(("fail", "outcome"), [("", "success"), (" && exit 1", "failed")])
def test_trigger_dag_waits_for_completion_under_a_scheduler(project, up_processes, fail, outcome):
    project.write("dags/controller.py", TRIGGERING.format(wait=True, fail=fail))
    up = up_processes(project)
    up.ready()
    assert project.minorch("trigger", "controller", "--date", "2024-01-15").returncode == 0
    found = wait_until(lambda: _finished_run(project, "controller"), timeout=30)
    assert found == outcome
    assert _finished_run(project, "target") == outcome


def _finished_run(project, dag_id: str) -> str | None:
    store = project.store()
    try:
        runs = store.runs(dag_id)
        return runs[0].state.value if runs and runs[0].state.finished else None
    finally:
        store.close()


# ---------------------------------------------------------------- the bundled examples


def test_the_bundled_airflow_style_examples_run_with_minorch_run(project):
    """examples/airflow_style as shipped: groups with setup/teardown, and a controller triggering a target
    (typed params, the run link, an execution_date_fn sensor and a marker that clears across DAGs)."""
    import shutil

    shutil.copytree(ROOT / "examples" / "airflow_style", project.root / "dags", dirs_exist_ok=True)
    done = project.minorch("run", "example_task_group", "--date", "2024-01-15", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {t["task_id"]: t["state"] for t in json.loads(done.stdout)["tasks"]} == dict.fromkeys(
        (
            "start",
            "create_workdir",
            "extract.orders",
            "extract.customers",
            "transform.join",
            "transform.checks.rows",
            "transform.checks.nulls",
            "report",
            "remove_workdir",
        ),
        "success",
    )
    assert not list((project.root / ".minorch" / "data" / "example_task_group").iterdir())  # the teardown ran
    refused = project.minorch("run", "example_trigger_controller", "--date", "2024-01-15", "--param", "rows=0")
    assert refused.returncode == 2 and "param 'rows': 0 is less than the minimum 1" in refused.stderr
    args = ("--date", "2024-01-15", "--param", "rows=5")
    assert project.minorch("run", "example_trigger_controller", *args).returncode == 0
    assert project.minorch("run", "example_trigger_target", "--date", "2024-01-15").returncode == 0
    runs = json.loads(project.minorch("runs", "example_trigger_target", "--json").stdout)
    assert {r["run_id"]: r["triggered_by"] for r in runs} == {
        "manual__2024-01-15T00:00:00+00:00": None,
        "trig__2024-01-15T00:00:00+00:00": "example_trigger_controller/manual__2024-01-15T00:00:00+00:00",
    }
    cleared = project.minorch("clear", "example_trigger_controller", "latest", "prepare", "--downstream", "-y")
    assert "through a marker, 2 tasks of example_trigger_target run manual__2024-01-15T00:00:00+00:00" in cleared.stdout
