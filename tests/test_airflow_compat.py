"""Constructs found in real Airflow DAG files (Airflow's own examples, tutorials and production
repositories) that minorch serves: Airflow 2 idioms Airflow still accepted, the paths Airflow 3's
providers import from, and what a file does to its DAG and tasks after making them. Each DAG text
here is a minimal one written for the construct; each test loads it unmodified and runs it for real."""

from __future__ import annotations

import json

from minorch.registry import load


def states(result) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in result.tis.items()}


def errors_and_warnings(done) -> tuple[list[str], list[str]]:
    lines = done.stderr.splitlines()
    return [x for x in lines if x.startswith("error:")], [x for x in lines if x.startswith("warning:")]


def test_a_long_or_fractional_timedelta_schedule_and_timeout_load(project):
    """%g wrote 3650 days as 3.1536e+08 seconds, which minorch's durations cannot read."""
    project.write(
        "dags/decade.py",
        """
        from datetime import datetime, timedelta
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("decade", start_date=datetime(2024, 1, 1), schedule=timedelta(days=3650),
                 dagrun_timeout=timedelta(days=400)):
            BashOperator(task_id="t", bash_command="true", execution_timeout=timedelta(milliseconds=2500))
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0, done.stderr
    registry = load(project.settings())
    dag = registry.dags["decade"]
    assert dag.schedule.expr == f"every {3650 * 86400}s"
    assert dag.tasks["t"].opts.timeout == 2.5


def test_airflow_2_idioms_load_and_run_as_airflow_2_ran_them(project):
    """provide_context, the two old trigger rule names, cross_downstream onto one task,
    `import airflow` then airflow.utils.dates, `from airflow import models`, base_hook and
    apply_defaults."""
    project.write(
        "dags/old.py",
        """
        import airflow
        from airflow import models
        from airflow.hooks.base_hook import BaseHook
        from airflow.models.baseoperator import cross_downstream
        from airflow.operators.bash_operator import BashOperator
        from airflow.operators.python_operator import PythonOperator
        from airflow.utils.decorators import apply_defaults
        from airflow.utils.trigger_rule import TriggerRule


        class Echo(models.BaseOperator):
            @apply_defaults
            def __init__(self, word, **kwargs):
                super().__init__(**kwargs)
                self.word = word

            def execute(self, context):
                return self.word


        def hello(**context):
            return context["ds"]


        with models.DAG("old", start_date=airflow.utils.dates.days_ago(2), schedule_interval="@daily",
                        default_args={"retries": 0, "depends_on_pastt": False, "catchup": False}) as dag:
            a = PythonOperator(task_id="a", python_callable=hello, provide_context=True)
            PythonOperator(task_id="wrong", python_callable=hello, op_kwargs={1, 2})  # fails when it runs
            b = BashOperator(task_id="b", bash_command="exit 1")
            c = Echo(task_id="c", word="hi", trigger_rule="none_failed_or_skipped")
            d = BashOperator(task_id="d", bash_command="true", trigger_rule=TriggerRule.DUMMY)
            cross_downstream([a, b], c)
            c >> d
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0, done.stderr
    errors, warnings = errors_and_warnings(done)
    assert warnings == [
        "warning: dags/old.py:26: default_args key 'depends_on_pastt' is ignored: no task takes it "
        "(did you mean 'depends_on_past'?)",
        "warning: dags/old.py:26: default_args key 'catchup' is ignored: no task takes it "
        "(it is an argument of DAG(...))",
    ]
    dag = load(project.settings()).dags["old"]
    assert sorted(dag.tasks["c"].upstream) == ["a", "b"]
    assert dag.tasks["c"].opts.trigger_rule.value == "none_failed_min_one_success"
    assert dag.tasks["d"].opts.trigger_rule.value == "always"
    result = project.run("old")
    assert states(result) == {"a": "success", "b": "failed", "c": "upstream_failed", "d": "success", "wrong": "failed"}


def test_airflow_3_provider_paths_and_names_load_and_run(project):
    """airflow.sdk.exceptions, airflow.providers.common.compat.sdk, `timezone` and `Context` from the
    SDK, the deferrable sensor classes and `deferrable=True`."""
    project.write(
        "dags/new.py",
        """
        from airflow.providers.common.compat.sdk import TriggerRule, timezone
        from airflow.providers.standard.operators.empty import EmptyOperator
        from airflow.providers.standard.sensors.time_delta import TimeDeltaSensorAsync
        from airflow.sdk import DAG, Context, task
        from airflow.sdk.exceptions import AirflowSkipException
        from airflow.sensors.time_sensor import TimeSensorAsync


        @task
        def skip_me(**context: Context):
            raise AirflowSkipException("not today")


        with DAG("new", start_date=timezone.datetime(2024, 1, 1), schedule=None):
            waited = TimeDeltaSensorAsync(task_id="waited", delta=timezone.utcnow() - timezone.utcnow())
            TimeSensorAsync(task_id="at", target_time="00:00", deferrable=True)
            skip_me() >> EmptyOperator(task_id="after", trigger_rule=TriggerRule.NONE_FAILED)
            waited
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0, done.stderr
    result = project.run("new")
    assert states(result)["skip_me"] == "skipped"
    assert states(result)["after"] == "success"


def test_variable_defaults_take_airflow_2_and_3_spellings(project, tmp_path):
    out = tmp_path / "out"
    config = project.root / "minorch.toml"
    config.write_text(config.read_text() + '\n[variables]\nregion = "eu"\n')
    project.write(
        "dags/variables.py",
        f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.models import Variable
        from airflow.operators.python import PythonOperator


        def show():
            with open({str(out)!r}, "w") as f:
                f.write(" ".join([Variable.get("region"), Variable.get("zone", default_var="a"),
                                  Variable.get("size", default="small"), str(Variable.get("x", default_var=None))]))


        with DAG("variables", start_date=datetime(2024, 1, 1), schedule=None):
            PythonOperator(task_id="show", python_callable=show)
        """,
    )
    assert states(project.run("variables")) == {"show": "success"}
    assert out.read_text() == "eu a small None"


def test_arguments_at_their_defaults_do_not_warn_and_one_external_task_in_a_list_is_waited_for(project):
    project.write(
        "dags/quiet.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.sensors.external_task import ExternalTaskSensor

        with DAG("quiet", start_date=datetime(2024, 1, 1), render_template_as_native_obj=False, schedule=None):
            BashOperator(task_id="b", bash_command="true", pool_slots=1, map_index_template="{{ ds }}",
                         task_concurrency=2)
            ExternalTaskSensor(task_id="e", external_dag_id="other", external_task_ids=["load"])
        """,
    )
    project.write(
        "dags/several.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.sensors.external_task import ExternalTaskSensor

        with DAG("several", start_date=datetime(2024, 1, 1)):
            ExternalTaskSensor(task_id="e", external_dag_id="other", external_task_ids=["a", "b"])
        """,
    )
    done = project.minorch("validate")
    assert errors_and_warnings(done) == (
        [
            "error: dags/several.py:7: ExternalTaskSensor over several tasks is not supported by minorch "
            "(make one ExternalTaskSensor per task, with external_task_id=)"
        ],
        ["warning: dags/quiet.py:8: argument task_concurrency is ignored by minorch"],
    )
    assert load(project.settings()).dags["quiet"].tasks["e"].sensor == {"dag": "other", "task": "load"}


def test_docs_given_after_the_dag_and_its_tasks_are_made_are_kept(project):
    project.write(
        "dags/documented.py",
        '''
        """The DAG's documentation."""
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("documented", start_date=datetime(2024, 1, 1), schedule=None) as dag:
            dag.doc_md = __doc__
            t = BashOperator(task_id="t", bash_command="true")
            t.doc_md = "What t does."
        ''',
    )
    dag = load(project.settings()).dags["documented"]
    assert dag.doc_md == "The DAG's documentation."
    assert dag.tasks["t"].doc_md == "What t does."


def test_a_taskflow_override_takes_airflow_arguments(project):
    """`.override(execution_timeout=...)` means minorch's timeout: the try is stopped after it."""
    project.write(
        "dags/over.py",
        """
        import time
        from datetime import datetime, timedelta
        from airflow.decorators import dag, task


        @task
        def nap():
            time.sleep(30)


        @dag(start_date=datetime(2024, 1, 1), schedule=None)
        def over():
            nap.override(task_id="short_nap", execution_timeout=timedelta(seconds=1), retries=0)()


        over()
        """,
    )
    result = project.run("over")
    assert states(result) == {"short_nap": "failed"}
    assert load(project.settings()).dags["over"].tasks["short_nap"].opts.timeout == 1


def test_params_with_trigger_form_keys_load(project):
    project.write(
        "dags/form.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.models.param import Param, ParamsDict
        from airflow.operators.python import PythonOperator


        def show(params: ParamsDict):
            assert params == {"count": 3, "day": "2024-01-01"}, params


        with DAG("form", start_date=datetime(2024, 1, 1), schedule=None, params={
            "count": Param(3, type="integer", section="Numbers", description_md="How **many**"),
            "day": Param("2024-01-01", type="string", format="date"),
        }):
            PythonOperator(task_id="show", python_callable=show)
        """,
    )
    done = project.minorch("validate")
    assert done.returncode == 0, done.stderr
    assert errors_and_warnings(done)[1] == ["warning: dags/form.py:14: Param key 'format' is not checked by minorch"]
    result = project.run("form")
    assert states(result) == {"show": "success"}


def test_classic_operators_map_with_partial_and_expand(project, tmp_path):
    """A custom operator over an upstream's list, a BashOperator over its commands (each rendered, as
    Airflow renders templated fields after mapping) and a PythonOperator over op_args."""
    out = tmp_path / "out"
    project.write(
        "dags/mapped.py",
        f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.decorators import task
        from airflow.models.baseoperator import BaseOperator
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import PythonOperator


        class Twice(BaseOperator):
            def __init__(self, value, **kwargs):
                super().__init__(**kwargs)
                self.value = value

            def execute(self, context):
                return self.value * 2


        def add(x, y):
            with open({str(out)!r}, "a") as f:
                f.write(f"add {{x + y}}\\n")


        with DAG("mapped", start_date=datetime(2024, 1, 1), schedule=None):
            @task
            def numbers():
                return [1, 2, 3]

            @task
            def total(values):
                with open({str(out)!r}, "a") as f:
                    f.write(f"total {{sum(values)}}\\n")

            total(Twice.partial(task_id="twice").expand(value=numbers()).output)
            BashOperator.partial(task_id="say").expand(bash_command=["echo a >> {out}", "echo {{{{ ds }}}} >> {out}"])
            PythonOperator.partial(task_id="add", python_callable=add).expand(op_args=[[1, 2], [3, 4]])
        """,
    )
    result = project.run("mapped")
    assert result.run.state.value == "success", states(result)
    assert sorted(out.read_text().splitlines()) == ["2024-01-15", "a", "add 3", "add 7", "total 12"]


def test_an_upstream_result_in_a_templated_field_is_waited_for_and_given(project, tmp_path):
    """Airflow makes an operator whose templated field holds `t.output` run after t, and resolves it."""
    out = tmp_path / "out"
    project.write(
        "dags/fields.py",
        f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.models.baseoperator import BaseOperator
        from airflow.operators.python import PythonOperator


        class Total(BaseOperator):
            template_fields = ("values",)

            def __init__(self, values, **kwargs):
                super().__init__(**kwargs)
                self.values = values

            def execute(self, context):
                with open({str(out)!r}, "w") as f:
                    f.write(str(sum(self.values)))


        with DAG("fields", start_date=datetime(2024, 1, 1), schedule=None):
            Total(task_id="total", values=PythonOperator(task_id="make", python_callable=lambda: [4, 5]).output)
        """,
    )
    assert load(project.settings()).dags["fields"].tasks["total"].upstream == ["make"]
    result = project.run("fields")
    assert states(result) == {"make": "success", "total": "success"}
    assert out.read_text() == "9"


def test_airflow_2_date_names_and_airflows_date_filters_mean_what_they_meant(project, tmp_path):
    """execution_date, tomorrow_ds and yesterday_ds_nodash in a bash command and a Python callable; the
    filters ds_nodash and ts in a bash command and a PythonOperator's op_args."""
    out = tmp_path / "out"
    project.write(
        "dags/dates.py",
        f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import PythonOperator


        def show(**kwargs):
            write(f"{{kwargs['execution_date']:%Y-%m-%d}} {{kwargs['tomorrow_ds']}}")


        def write(text):
            with open({str(out)!r}, "a") as f:
                f.write(text + "\\n")


        with DAG("dates", start_date=datetime(2024, 1, 1), schedule="@daily"):
            BashOperator(task_id="say", bash_command=(
                "echo {{{{ execution_date.strftime('%Y') }}}} {{{{ tomorrow_ds }}}} "
                "{{{{yesterday_ds_nodash}}}} {{{{ data_interval_end | ts }}}} >> {out}"
            )) >> PythonOperator(task_id="show", python_callable=show) >> PythonOperator(
                task_id="filtered", python_callable=write, op_args=["{{{{ logical_date | ds_nodash }}}}"])
        """,
    )
    result = project.run("dates")
    assert states(result) == {"say": "success", "show": "success", "filtered": "success"}
    assert out.read_text().splitlines() == [
        "2024 2024-01-16 20240114 2024-01-15T00:00:00+00:00",
        "2024-01-15 2024-01-16",
        "20240115",
    ]


def test_taskflow_arguments_and_template_files_are_rendered_as_airflow_renders_them(project, tmp_path):
    """A TaskFlow task's text arguments are templates; with templates_exts, an argument naming a file
    (beside the DAG file) is that file's text, rendered; the same for PythonOperator's op_kwargs."""
    out = tmp_path / "out"
    project.write("dags/sql/pick.sql", "select '{{ ds }}' -- {{ params.table }}\n")
    project.write(
        "dags/rendered.py",
        f"""
        from datetime import datetime
        from airflow.decorators import dag, task
        from airflow.operators.python import PythonOperator


        def write(line):
            with open({str(out)!r}, "a") as f:
                f.write(line.strip() + "\\n")


        @task(templates_exts=[".sql"])
        def query(sql, label, day):
            write(f"{{label}} {{day}}: {{sql}}")


        @dag(start_date=datetime(2024, 1, 1), schedule=None, params={{"table": "orders"}})
        def rendered():
            query("sql/pick.sql", label="run {{{{ run_id }}}}", day="{{{{ macros.ds_add(ds, 1) }}}}")
            PythonOperator(task_id="classic", python_callable=lambda sql: write(sql),
                           op_kwargs={{"sql": "sql/pick.sql"}}, templates_exts=[".sql"])


        rendered()
        """,
    )
    result = project.run("rendered")
    assert states(result) == {"query": "success", "classic": "success"}
    assert sorted(out.read_text().splitlines()) == [
        "run manual__2024-01-15T00:00:00+00:00 2024-01-16: select '2024-01-15' -- orders",
        "select '2024-01-15' -- orders",
    ]


def test_branching_on_the_day_of_the_week_and_the_time_follows_airflows_rules(project):
    """2024-01-15 is a Monday; with use_task_logical_date the runs' logical date (midnight) decides."""
    project.write(
        "dags/when.py",
        """
        from datetime import datetime, time
        from airflow import DAG
        from airflow.operators.datetime import BranchDateTimeOperator
        from airflow.operators.empty import EmptyOperator
        from airflow.providers.standard.operators.weekday import BranchDayOfWeekOperator
        from airflow.utils.weekday import WeekDay

        with DAG("when", start_date=datetime(2024, 1, 1), schedule="@daily"):
            def branch(kind, task_id, **kwargs):
                kind(task_id=task_id, use_task_logical_date=True, follow_task_ids_if_true=f"{task_id}_yes",
                     follow_task_ids_if_false=f"{task_id}_no", **kwargs) >> [
                    EmptyOperator(task_id=f"{task_id}_yes"), EmptyOperator(task_id=f"{task_id}_no")]

            branch(BranchDayOfWeekOperator, "monday", week_day="monday")
            branch(BranchDayOfWeekOperator, "weekend", week_day={WeekDay.SATURDAY, WeekDay.SUNDAY})
            branch(BranchDateTimeOperator, "january", target_lower=datetime(2024, 1, 1), target_upper=None)
            branch(BranchDateTimeOperator, "night", target_lower=time(23), target_upper=time(1))
            branch(BranchDateTimeOperator, "early", target_lower=time(0), target_upper=time(1))
        """,
    )
    result = project.run("when")
    followed = {tid for tid, state in states(result).items() if state == "success" and "_" in tid}
    assert followed == {"monday_yes", "weekend_no", "january_yes", "night_no", "early_yes"}


def test_run_if_skip_if_and_a_callable_bash_command(project, tmp_path):
    """Airflow 2.10: `@task.run_if`/`@task.skip_if` over `@task`, and `bash_command=fn(context, jinja_env)`
    (called when the try runs, its command then rendered)."""
    out = tmp_path / "out"
    project.write(
        "dags/conditions.py",
        f"""
        from datetime import datetime
        from airflow.decorators import dag, task
        from airflow.operators.bash import BashOperator


        def command(context, jinja_env):
            return "echo " + context["task"].task_id + " {{{{ ds }}}} >> {out}"


        @dag(start_date=datetime(2024, 1, 1), schedule=None, max_consecutive_failed_dag_runs=3)
        def conditions():
            @task.run_if(lambda context: context["ds"] == "2024-01-15")
            @task
            def runs():
                pass

            @task.skip_if(lambda context: context["ds"] == "2024-01-15", skip_message="not on the 15th")
            @task
            def skipped():
                pass

            runs() >> skipped() >> BashOperator(task_id="made", bash_command=command, trigger_rule="all_done")


        conditions()
        """,
    )
    done = project.minorch("validate")
    assert errors_and_warnings(done) == (
        [],
        ["warning: dags/conditions.py:26: DAG argument max_consecutive_failed_dag_runs is ignored by minorch"],
    )
    result = project.run("conditions")
    assert states(result) == {"runs": "success", "skipped": "skipped", "made": "success"}
    assert out.read_text() == "made 2024-01-15\n"


def test_a_custom_operators_template_ext_reads_the_file_its_field_names(project, tmp_path):
    out = tmp_path / "out"
    project.write("dags/queries/daily.sql", "select * from t where day = '{{ ds }}'\n")
    project.write(
        "dags/custom_sql.py",
        f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.models.baseoperator import BaseOperator


        class Query(BaseOperator):
            template_fields = ("sql",)
            template_ext = (".sql",)

            def __init__(self, sql, **kwargs):
                super().__init__(**kwargs)
                self.sql = sql

            def execute(self, context):
                with open({str(out)!r}, "a") as f:
                    f.write(self.sql.strip() + "\\n")


        with DAG("custom_sql", start_date=datetime(2024, 1, 1), schedule=None):
            Query(task_id="from_file", sql="queries/daily.sql") >> Query(task_id="inline", sql="select '{{{{ ds }}}}'")
        """,
    )
    result = project.run("custom_sql")
    assert states(result) == {"from_file": "success", "inline": "success"}
    assert out.read_text().splitlines() == ["select * from t where day = '2024-01-15'", "select '2024-01-15'"]


def test_mapping_what_minorch_cannot_map_fails_its_file_with_one_line(project):
    project.write(
        "dags/groups.py",
        """
        from datetime import datetime
        from airflow.sdk import DAG, task, task_group

        with DAG("groups", start_date=datetime(2024, 1, 1)):
            @task_group
            def each(x):
                @task
                def show(y):
                    print(y)
                show(x)

            each.expand(x=[1, 2])
        """,
    )
    project.write(
        "dags/two.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("two", start_date=datetime(2024, 1, 1)):
            BashOperator.partial(task_id="t").expand(bash_command=["true"], env=[{"A": "1"}])
        """,
    )
    project.write(
        "dags/keyed.py",
        """
        from datetime import datetime
        from airflow.sdk import dag, task

        @dag(start_date=datetime(2024, 1, 1))
        def keyed():
            @task(multiple_outputs=True)
            def extract():
                return {"rows": [1, 2]}

            @task
            def double(x):
                return 2 * x

            double.expand(x=extract()["rows"])

        keyed()
        """,
    )
    done = project.minorch("validate")
    assert "Traceback" not in done.stderr
    assert errors_and_warnings(done)[0] == [
        "error: dags/groups.py:13: mapping the task group each (.partial/.expand) is not supported by minorch "
        "(map the tasks inside the group with .expand(...))",
        "error: dags/keyed.py:15: expand(x=...) over the result key 'rows' of task 'extract' is not supported "
        "(expand over a task that returns the list itself)",
        "error: dags/two.py:7: BashOperator.partial(...).expand(...) over 2 arguments is not supported by minorch "
        "(expand over one argument and fix the others in .partial(...))",
    ]


# ---------------------------------------------------------------- what is not served: one line each


def test_unsupported_functions_options_and_decorators_fail_their_file_with_one_line(project):
    project.write(
        "dags/venv.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.python import is_venv_installed

        with DAG("venv", start_date=datetime(2024, 1, 1)):
            pass
        """,
    )
    project.write(
        "dags/processor.py",
        """
        import json
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        with DAG("processor", start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="count", bash_command="echo '{}'",
                         output_processor=json.loads)
        """,
    )
    project.write(
        "dags/branchvenv.py",
        """
        from datetime import datetime
        from airflow.sdk import DAG, task

        with DAG("branchvenv", start_date=datetime(2024, 1, 1)):
            @task.branch_virtualenv(requirements=["x"])
            def pick():
                return "a"
        """,
    )
    project.write(
        "dags/pend.py",
        """
        import pendulum
        from airflow import DAG

        with DAG("pend", start_date=pendulum.datetime(2024, 1, 1), end_date=pendulum.Date(2025, 1, 1)):
            pass
        """,
    )
    project.write(
        "dags/conf.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.trigger_dagrun import TriggerDagRunOperator

        with DAG("conf", start_date=datetime(2024, 1, 1)):
            TriggerDagRunOperator(task_id="go", trigger_dag_id="fine", conf=lambda context, jinja_env: {})
        """,
    )
    project.write(
        "dags/weights.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator

        class Rule:
            pass

        with DAG("weights", start_date=datetime(2024, 1, 1)):
            BashOperator(task_id="t", bash_command="true", params={"rules": [1, Rule()]})
        """,
    )
    project.write(
        "dags/fine.py",
        """
        from datetime import datetime
        import pendulum
        from airflow.operators.bash import BashOperator
        from airflow.sdk import DAG

        with DAG("fine", start_date=datetime(2024, 1, 1), schedule="@daily"):
            BashOperator(task_id="at", bash_command="echo {{ ds }}", doc=str(pendulum.time(6, 30)))
        """,
    )
    done = project.minorch("validate")
    assert "Traceback" not in done.stderr
    assert errors_and_warnings(done)[0] == [
        "error: dags/branchvenv.py:6: @task.branch_virtualenv is not supported by minorch "
        "(run the other interpreter with @task.bash)",
        "error: dags/conf.py:7: TriggerDagRunOperator conf given as a function is not supported by minorch "
        "(give conf as a dict (its strings may be templates))",
        "error: dags/pend.py:5: pendulum.Date is not among the pendulum calls minorch serves (install pendulum)",
        "error: dags/processor.py:8: option output_processor of task 'count' is a function, not a plain value "
        "(options must be strings, numbers, booleans, lists or dicts; remove it or give it in that form)",
        "error: dags/venv.py:4: is_venv_installed from airflow.operators.python is not supported by minorch "
        "(see docs/moving-from-airflow.md for what minorch offers; `minorch airflow-check` lists it)",
        "error: dags/weights.py:10: option params of task 't' holds a Rule, not a plain value "
        "(options must be strings, numbers, booleans, lists or dicts; remove it or give it in that form)",
    ]
    assert "1 DAG, 1 task, 6 errors" in done.stdout


def test_airflow_check_lists_unsupported_names_used_outside_a_dag_without_knock_on_errors(project):
    """A hook made at module level, `conf.get(...)` and a custom timetable are reported as the names
    they are, not as tasks made outside a DAG or attributes a stand-in lacks."""
    project.write(
        "dags/hooks.py",
        """
        from datetime import datetime
        from airflow import DAG
        from airflow.configuration import conf
        from airflow.operators.bash import BashOperator
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        db = PostgresHook(postgres_conn_id="warehouse")
        folder = conf.get("core", "dags_folder")

        with DAG("hooks", start_date=datetime(2024, 1, 1), schedule="@daily"):
            BashOperator(task_id="t", bash_command="true")
        """,
    )
    done = project.minorch("airflow-check", "--json", "dags")
    [report] = json.loads(done.stdout)
    assert report["status"] == "cannot load"
    assert report["dags"] == ["hooks"]
    assert sorted(report["unsupported"]) == ["PostgresHook", "conf"]
    assert len(report["problems"]) == 2, report["problems"]
    assert report["unsupported"]["conf"] == (
        "conf from airflow.configuration is not supported by minorch (read your own settings with Variable.get(...))"
    )
