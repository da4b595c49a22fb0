"""One DAG triggering another, with typed params, a cross-DAG sensor and an external task marker.

    example_trigger_controller:  prepare ─▸ trigger_target ─▸ mark_target
    example_trigger_target:      controller_prepared (sensor) ─▸ load ─▸ summary

The controller's params are typed: `minorch run example_trigger_controller --date 2024-01-15
--param rows=5` works, `--param rows=0` is refused before any run exists (exit 2), and the trigger
dialog of `minorch ui` (`t`) asks for each param with its type and default. `trigger_target` queues
the target's run `trig__<logical date>` with a templated conf; `minorch runs example_trigger_target`
names the run that triggered it. Under `minorch up` the target then runs; with `minorch run`, run it
yourself: `minorch run example_trigger_target --date 2024-01-15`. Clearing `prepare` with its
downstream (`minorch clear example_trigger_controller latest prepare --downstream`) reaches
`mark_target`, which clears the target's `load` and `summary` of the same logical date too.
"""

from datetime import timedelta

from minorch import DAG, Param, external_task_marker, external_task_sensor, shell, trigger_dag

with DAG(
    "example_trigger_controller",
    schedule="@daily",
    params={
        "rows": Param(3, type="integer", minimum=1, maximum=1000, description="rows to load"),
        "region": Param("eu", type="string", enum=["eu", "us"]),
    },
    tags=["example"],
):
    prepare = shell("prepare", "echo preparing {{ params.rows }} rows for {{ params.region }}")
    trigger = trigger_dag(
        "trigger_target",
        "example_trigger_target",
        conf={"rows": "{{ params.rows }}", "region": "{{ params.region }}"},
    )
    prepare >> trigger >> external_task_marker("mark_target", "example_trigger_target", "load")


def same_logical_date(logical_date):
    """Airflow's execution_date_fn: which run of the other DAG to look at (here: the same date)."""
    return logical_date - timedelta(0)


with DAG("example_trigger_target", schedule=None, tags=["example"]):
    waited = external_task_sensor(
        "controller_prepared",
        "example_trigger_controller",
        "prepare",
        execution_date_fn=same_logical_date,
        poke_interval=2,
        timeout=600,
    )
    load = shell("load", "echo loading {{ dag_run.conf.get('rows', 1) }} rows for {{ dag_run.conf.get('region') }}")
    waited >> load >> shell("summary", "echo loaded for {{ ds }}")
