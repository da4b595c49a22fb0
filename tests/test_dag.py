"""The DAG model: the Python API, the one builder (`build_dag`) and its checks. No I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest

from minorch import DAG, Label, TaskGroup, chain, cross_downstream, dag, shell, task, task_group
from minorch.durations import parse_duration
from minorch.errors import ConfigError, DagError
from minorch.options import TaskOptions, resolve_options
from minorch.spec import build_dag, dag_to_spec
from minorch.states import TriggerRule


def spec(**tasks) -> dict:
    """A DAG spec whose tasks are `name="command"` or `name={...}`."""
    return {"tasks": {tid: ({"command": t} if isinstance(t, str) else t) for tid, t in tasks.items()}}


def build(dag_spec: dict, **kwargs):
    return build_dag("etl", dag_spec, file="dags/etl.toml", **kwargs)


def error_of(dag_spec: dict, **kwargs) -> DagError:
    with pytest.raises(DagError) as caught:
        build(dag_spec, **kwargs)
    return caught.value


# ---------------------------------------------------------------- Python API


def test_shell_tasks_in_a_dag_context_record_their_file_and_line():
    with DAG("etl", schedule="@daily") as made:
        first = shell("extract", "echo {{ ds }}")
    assert made.tasks == {"extract": first}
    assert first.file == __file__ and first.line is not None and first.dag is made
    assert made.given == {"schedule": "@daily"}


def test_right_shift_and_left_shift_accept_lists_on_either_side():
    with DAG("etl"):
        a, b, c, d = (shell(t, "true") for t in "abcd")
        a >> [b, c]
        [b, c] >> d
        d << a
        a << shell("e", "true")
    assert b.upstream == ["a"] and c.upstream == ["a"]
    assert d.upstream == ["b", "c", "a"]
    assert a.upstream == ["e"]


def test_a_dependency_set_twice_is_recorded_once():
    with DAG("etl"):
        a, b = shell("a", "true"), shell("b", "true")
        a >> b
        b << a
    assert b.upstream == ["a"]


def test_chain_links_each_item_to_the_next_including_lists():
    with DAG("etl"):
        a, b, c, d, e = (shell(t, "true") for t in "abcde")
        chain(a, b, [c, d], e)
    assert [t.upstream for t in (a, b, c, d, e)] == [[], ["a"], ["b"], ["b"], ["c", "d"]]


def test_a_dependency_on_something_that_is_not_a_task_is_an_error():
    with DAG("etl"):
        a = shell("a", "true")
        with pytest.raises(DagError, match="cannot set a dependency on 'b'"):
            a >> ["b"]


def test_a_task_outside_a_dag_says_to_create_it_inside_one():
    with pytest.raises(DagError, match="outside a DAG") as caught:
        shell("a", "true")
    assert "with DAG" in caught.value.hint


def test_at_dag_builds_a_dag_named_after_the_function_on_every_call():
    @dag(schedule="@hourly", retries=2)
    def nightly():
        shell("a", "true")

    first, second = nightly(), nightly()
    assert first.dag_id == second.dag_id == "nightly"
    assert first.given == {"schedule": "@hourly", "retries": 2} and list(second.tasks) == ["a"]


def test_at_dag_keeps_an_explicit_dag_id_on_a_second_call():
    @dag(dag_id="renamed")
    def builder():
        shell("a", "true")

    assert builder().dag_id == builder().dag_id == "renamed"


def test_at_task_call_with_task_results_records_xcom_args_and_upstreams():
    with DAG("etl") as made:

        @task
        def extract(ds):
            return ds

        @task(retries=3, task_id="load_all")
        def load(rows, table="orders"):
            """Load rows into a table."""

        extracted = extract()
        loaded = load(rows=extracted, table="customers")
    assert loaded.task_id == "load_all" and loaded.upstream == ["extract"]
    assert loaded.xcom_args == {"rows": "extract"} and loaded.call_kwargs == {"table": "customers"}
    assert loaded.given == {"retries": 3} and loaded.description == "Load rows into a table."
    assert made.tasks["extract"].func is not None


def test_a_task_takes_positional_arguments_by_its_parameter_names():
    with DAG("etl") as made:

        @task
        def extract():
            return [1]

        @task
        def load(rows, table, **more):
            return rows

        load(extract(), "orders", mode="append")
    assert made.tasks["load"].xcom_args == {"rows": "extract"}
    assert made.tasks["load"].call_kwargs == {"table": "orders", "mode": "append"}
    assert made.tasks["load"].upstream == ["extract"]


def test_one_function_called_again_gets_airflows_suffixed_ids_and_override_changes_options():
    with DAG("etl") as made:

        @task
        def f():
            return 1

        f(), f(), f()
        f.override(task_id="g", retries=3)()
    assert list(made.tasks) == ["f", "f__1", "f__2", "g"]
    assert made.tasks["g"].given == {"retries": 3}


def test_chain_links_two_lists_one_to_one_and_refuses_unequal_lengths():
    with DAG("etl") as made:
        a, b, c, d, e = (shell(x, "true") for x in "abcde")
        chain(a, [b, c], [d, e])
        with pytest.raises(DagError, match="lists of 2 and 3 items"):
            chain([b, c], [d, e, a])
    assert made.tasks["d"].upstream == ["b"] and made.tasks["e"].upstream == ["c"]
    assert made.tasks["b"].upstream == ["a"] and made.tasks["c"].upstream == ["a"]


def test_cross_downstream_links_every_pair_and_labels_name_edges():
    with DAG("etl") as made:
        a, b, c, d = (shell(x, "true") for x in "abcd")
        cross_downstream([a, b], [c, d])
        e, f = shell("e", "true"), shell("f", "true")
        a >> Label("valid") >> e
        chain(b, Label("invalid"), f)
    assert made.tasks["c"].upstream == ["a", "b"] and made.tasks["d"].upstream == ["a", "b"]
    assert made.tasks["e"].labels == {"a": "valid"} and made.tasks["f"].labels == {"b": "invalid"}


def test_task_groups_prefix_ids_nest_and_link_their_roots_and_leaves():
    with DAG("etl") as made:
        start = shell("start", "true")
        with TaskGroup("extract") as extract:
            a = shell("a", "true")
            with TaskGroup("inner"):
                b = shell("b", "true")
            a >> b
            shell("c", "true")
        with TaskGroup("flat", prefix_group_id=False) as flat:
            shell("d", "true")
        end = shell("end", "true")
        start >> extract >> flat >> end
    assert list(made.tasks) == ["start", "extract.a", "extract.inner.b", "extract.c", "d", "end"]
    assert made.tasks["extract.a"].upstream == ["start"] and made.tasks["extract.c"].upstream == ["start"]
    assert made.tasks["d"].upstream == ["extract.inner.b", "extract.c"]
    assert made.tasks["extract.inner.b"].group == "extract.inner"
    assert made.groups["extract.inner"]["parent"] == "extract"


def test_a_task_group_function_is_named_after_itself_and_returns_its_result():
    with DAG("etl") as made:

        @task_group
        def clean():
            """Tidy the data."""
            return shell("tidy", "true")

        first = clean()
        second = clean()
        first >> second
    assert list(made.tasks) == ["clean.tidy", "clean__1.tidy"]
    assert made.tasks["clean__1.tidy"].upstream == ["clean.tidy"]
    assert made.groups["clean"]["tooltip"] == "Tidy the data."


def test_a_task_id_used_twice_in_one_dag_is_an_error():
    with DAG("etl"):
        shell("a", "true")
        with pytest.raises(DagError, match="task id 'a' is used twice in DAG 'etl'"):
            shell("a", "false")


def test_a_python_dag_survives_the_trip_through_its_spec():
    with DAG("etl", schedule="0 2 * * *", retry_delay=timedelta(minutes=5), env={"A": "1"}) as made:

        @task(timeout=timedelta(seconds=90))
        def extract():
            return 1

        @task
        def load(rows):
            return rows

        shell("report", "echo done", trigger_rule="all_done") << load(rows=extract())
    built = build_dag("etl", dag_to_spec(made), file="dags/etl.py", pools=[], notifiers=[])
    assert built.line == made.line and built.file == "dags/etl.py"
    assert built.topological() == ["extract", "load", "report"]
    assert built.tasks["load"].xcom_args == {"rows": "extract"}
    assert built.tasks["extract"].opts.timeout == 90.0 and built.tasks["extract"].opts.retry_delay == 300.0
    assert built.tasks["report"].opts.trigger_rule is TriggerRule.ALL_DONE
    assert built.tasks["report"].opts.env == {"A": "1"} and built.tasks["report"].line == made.tasks["report"].line


# ---------------------------------------------------------------- options and defaults


def test_defaults_merge_settings_then_dag_then_task():
    built = build(
        {"retries": 2, "timeout": "10m", **spec(a="true", b={"command": "true", "retries": 5})},
        defaults={"retries": 1, "timeout": "1h", "retry_delay": "30s"},
    )
    a, b = built.tasks["a"].opts, built.tasks["b"].opts
    assert (a.retries, a.timeout, a.retry_delay) == (2, 600.0, 30.0)
    assert (b.retries, b.timeout, b.retry_delay) == (5, 600.0, 30.0)


def test_env_and_params_merge_key_by_key_along_the_layers():
    built = build(
        {
            "env": {"A": "dag", "B": "dag"},
            "params": {"table": "orders", "limit": 10},
            **spec(a={"command": "true", "env": {"B": "task", "N": 3}, "params": {"limit": 5}}),
        },
        defaults={"env": {"A": "settings", "HOME": "/srv"}},
    )
    opts = built.tasks["a"].opts
    assert opts.env == {"A": "dag", "B": "task", "HOME": "/srv", "N": "3"}
    assert opts.params == {"table": "orders", "limit": 5}
    assert built.params == {"table": "orders", "limit": 10}


def test_resolve_options_converts_durations_and_trigger_rules():
    opts = resolve_options(
        {"retry_delay": "1h30m", "max_retry_delay": 60, "trigger_rule": "one_failed", "retry_exponential_backoff": True}
    )
    assert opts == TaskOptions(
        retry_delay=5400.0, max_retry_delay=60.0, trigger_rule=TriggerRule.ONE_FAILED, retry_exponential_backoff=True
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("250ms", 0.25),
        (90, 90),
        ("90", 90),
        (timedelta(hours=1), 3600),
    ],
)
def test_durations_read_units_and_plain_seconds(text, seconds):
    assert parse_duration(text) == seconds


def test_a_duration_in_words_says_how_to_write_one():
    with pytest.raises(ConfigError) as caught:
        parse_duration("5 minutes", name="retry_delay")
    assert str(caught.value) == 'retry_delay \'5 minutes\' is not a duration (write e.g. "45s", "5m", "1h30m" or "2d")'


@pytest.mark.parametrize("value", [True, False, "latest"])
def test_catchup_accepts_true_false_and_latest(value):
    assert build({"catchup": value, **spec(a="true")}).catchup == value


@pytest.mark.parametrize("value", ["yes", 1, "all"])
def test_catchup_rejects_anything_else(value):
    assert 'catchup must be true, false or "latest"' in str(error_of({"catchup": value, **spec(a="true")}))


def test_a_trigger_rule_typo_suggests_the_rule():
    err = error_of(spec(a="true", b={"command": "true", "trigger_rule": "all_sucess", "after": ["a"]}))
    assert err.message == "trigger_rule 'all_sucess' is unknown" and err.hint == "did you mean 'all_success'?"


def test_a_pool_that_is_not_defined_is_an_error_and_a_defined_one_is_not():
    task_spec = spec(a={"command": "true", "pool": "dbb"})
    err = error_of(task_spec, pools=["db"])
    assert err.message == "task 'a' uses pool 'dbb', which is not defined" and err.hint == "did you mean 'db'?"
    assert "[minorch.pools]" in error_of(task_spec, pools=[]).hint
    assert build(spec(a={"command": "true", "pool": "db"}), pools=["db"]).tasks["a"].opts.pool == "db"


def test_a_notifier_that_is_not_defined_is_an_error():
    err = error_of(spec(a={"command": "true", "on_failure": ["ops", {"command": "true"}]}), notifiers=["opps"])
    assert err.message == "task 'a' uses notifier 'ops', which is not defined"


def test_unknown_options_suggest_the_closest_name():
    assert error_of({"schedul": "@daily", **spec(a="true")}).hint == "did you mean 'schedule'?"
    assert error_of(spec(a={"command": "true", "retires": 2})).hint == "did you mean 'retries'?"
    assert error_of({"task": {}, **spec(a="true")}).hint == "did you mean 'tasks'?"


def test_keys_starting_with_underscore_are_unknown_options_too():
    assert error_of({"_private": 1, **spec(a="true")}).message == "unknown DAG option '_private'"


@pytest.mark.parametrize(
    ("task_spec", "message"),
    [
        (
            {"command": "true", "python": "m:f"},
            "task 'a' needs exactly one of command, python, sensor, marker, empty or latest_only",
        ),
        ({}, "task 'a' needs exactly one of command, python, sensor, marker, empty or latest_only"),
        ({"python": "etl.load"}, "python = 'etl.load' is not a reference"),
        ({"command": 3}, "command must be a string, not 3"),
        ({"command": "true", "after": "b c"}, "task 'a' depends on 'b c', which does not exist"),
        ({"command": "true", "after": [1]}, "after must be a list of names, not [1]"),
        ({"command": "true", "retries": -1}, "retries must be 0 or more, not -1"),
        (
            {"command": "true", "retry_exponential_backoff": "yes"},
            "retry_exponential_backoff must be true or false, not 'yes'",
        ),
    ],
)
def test_bad_task_values_are_reported_with_what_is_wrong(task_spec, message):
    assert error_of(spec(a=task_spec)).message == message


def test_a_task_that_is_not_a_table_is_an_error():
    assert error_of({"tasks": {"a": 3}}).message == "task 'a' must be a table"


def test_ids_with_spaces_or_slashes_are_rejected():
    assert "may hold only letters" in error_of(spec(**{"load orders": "true"})).message
    with pytest.raises(DagError, match="DAG id 'a/b'"):
        build_dag("a/b", spec(a="true"), file=None)


def test_a_dag_without_tasks_says_how_to_add_one():
    assert error_of({"schedule": "@daily"}).hint == "add a [dags.etl.tasks.<task_id>] table with a command"


def test_a_bad_schedule_gets_a_hint_on_how_to_write_one():
    err = error_of({"schedule": "61 * * * *", **spec(a="true")})
    assert err.message == "schedule '61 * * * *': minute field: 61 is out of range 0-59"
    assert "30 2 * * *" in err.hint


# ---------------------------------------------------------------- the graph


def test_a_task_depending_on_itself_is_an_error():
    assert error_of(spec(a={"command": "true", "after": ["a"]})).message == "task 'a' depends on itself"


def test_an_unknown_upstream_suggests_the_closest_task():
    err = error_of(spec(transform="true", load={"command": "true", "after": ["transfrom"]}))
    assert str(err) == (
        "dags/etl.toml: task 'load' depends on 'transfrom', which does not exist (did you mean 'transform'?)"
    )


def test_a_cycle_is_reported_with_its_path_in_run_order():
    err = error_of(
        spec(
            a={"command": "true", "after": ["c"]},
            b={"command": "true", "after": ["a"]},
            c={"command": "true", "after": ["b"]},
        )
    )
    assert err.message == "tasks depend on each other in a cycle: a -> b -> c -> a"
    assert err.hint == "remove 'c' from the `after` list of 'a', or another link"


def test_a_cycle_below_a_valid_part_names_only_the_cycle():
    err = error_of(
        spec(start="true", x={"command": "true", "after": ["start", "y"]}, y={"command": "true", "after": ["x"]})
    )
    assert err.message.endswith(": x -> y -> x")


def test_a_chain_of_thousands_of_tasks_builds_and_sorts():
    tasks = {f"t{i}": {"command": "true", **({"after": [f"t{i - 1}"]} if i else {})} for i in range(5000)}
    built = build({"tasks": dict(reversed(tasks.items()))})
    assert built.topological() == [f"t{i}" for i in range(5000)]


def test_topological_order_puts_upstreams_first_and_keeps_definition_order_for_ties():
    built = build(spec(b={"command": "true", "after": ["a"]}, c="true", a="true"))
    assert built.topological() == ["a", "b", "c"]
    assert built.downstream() == {"b": [], "c": [], "a": ["b"]}


def test_an_after_option_in_python_adds_to_the_shift_links():
    with DAG("etl") as made:
        shell("a", "true")
        shell("c", "true", after=["a"]) << shell("b", "true")
    assert build_dag("etl", dag_to_spec(made), file=None).tasks["c"].upstream == ["a", "b"]


# ---------------------------------------------------------------- bad input on the Airflow-grade options

BAD_NEW_OPTIONS = [
    (
        spec(
            s={"command": "true", "setup": True},
            t={"command": "true", "teardown": {"setups": ["s"]}, "trigger_rule": "all_done"},
        ),
        "teardown 't' has trigger_rule 'all_done'; a teardown's rule is all_done_setup_success",
    ),
    (
        spec(a="true", t={"command": "true", "teardown": {"setups": ["a"]}}),
        "teardown 't' names 'a' as its setup, but 'a' is not a setup task",
    ),
    (spec(t={"command": "true", "teardown": {"setup": ["a"]}}), "unknown teardown option 'setup'"),
    (spec(a={"command": "true", "weight_rule": "downstrem"}), "weight_rule 'downstrem' is unknown"),
    (spec(a={"command": "true", "max_active_tis_per_dag": 0}), "max_active_tis_per_dag must be 1 or more, not 0"),
    (spec(a={"empty": "yes"}), "empty must be true or false, not 'yes'"),
    (spec(a={"command": "true", "labels": ["x"]}), "labels must be a table of edge labels, not ['x']"),
    (spec(a={"sensor": {"weekday": "funday"}}), "sensor weekday 'funday' is not a day name"),
    (spec(a={"sensor": {"trigger_dag": "b", "conf": "x"}}), "trigger_dag conf must be a table, not 'x'"),
    (
        spec(a={"sensor": {"dag": "b", "task": "c", "failed_states": ["broken"]}}),
        "sensor failed_states: 'broken' is not a task state",
    ),
    ({**spec(a="true"), "params": {"n": {"default": 1, "type": "integr"}}}, "param 'n': unknown type 'integr'"),
    ({**spec(a="true"), "schedule": -5}, "schedule -5 seconds is not a whole positive number of seconds"),
    ({**spec(a="true"), "schedule": float("inf")}, "schedule inf seconds is not a whole positive number of seconds"),
    ({**spec(a="true"), "schedule": float("nan")}, "schedule nan seconds is not a whole positive number of seconds"),
    ({**spec(a="true"), "groups": {"g": {"tooltp": "x"}}}, "unknown task group option 'tooltp'"),
    (
        {**spec(a={"command": "true", "group": "h"}), "groups": {"g": {}}},
        "task 'a' is in group 'h', which is not defined",
    ),
]


@pytest.mark.parametrize(("dag_spec", "message"), BAD_NEW_OPTIONS, ids=[m for _, m in BAD_NEW_OPTIONS])
def test_each_new_option_refuses_bad_input_with_one_message(dag_spec, message):
    assert error_of(dag_spec).message == message


@pytest.mark.parametrize(
    ("key", "hint"),
    [("schedule_interval", "'schedule'"), ("execution_timeout", "'timeout'"), ("bash_command", "'command'")],
)
def test_airflows_names_are_refused_with_minorchs_name_as_the_hint(key, hint):
    err = (
        error_of(spec(a={"command": "true", key: "x"}))
        if key != "schedule_interval"
        else error_of({**spec(a="true"), key: "@daily"})
    )
    assert f"Airflow's '{key}' is {hint} in minorch" in err.hint


def test_tasks_with_equal_options_share_them_and_each_other_task_gets_its_own():
    made = build(
        {
            "retries": 2,
            "env": {"A": "1"},
            "tasks": {
                "a": {"command": "true", "timeout": "5m"},
                "b": {"command": "true", "timeout": "300s"},
                "c": {"command": "true", "timeout": "10m"},
                "d": {"command": "true", "timeout": "5m", "env": {"B": "2"}},
                "e": {"command": "true"},
            },
        }
    )
    opts = {tid: task.opts for tid, task in made.tasks.items()}
    assert opts["a"] is opts["b"] and opts["a"].timeout == 300.0 and opts["a"].retries == 2
    assert opts["c"].timeout == 600.0 and opts["e"].timeout is None
    assert opts["d"].env == {"A": "1", "B": "2"} and opts["a"].env == {"A": "1"}
