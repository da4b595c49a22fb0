"""The names a task's context offers: what command templates and Python task parameters may
use. Apart from the template engine, so that checking a plain template needs no Jinja."""

#: The names `templates.build_context` provides; `templates.check` accepts these and Jinja's own globals.
CONTEXT_NAMES = frozenset(
    {
        "triggering_events",
        "inlet_events",
        "ds",
        "ds_nodash",
        "ts",
        "ts_nodash",
        "logical_date",
        "data_interval_start",
        "data_interval_end",
        "prev_ds",
        "next_ds",
        "params",
        "run_id",
        "dag_id",
        "task_id",
        "try_number",
        "timezone",
        "macros",
        "xcom",
        "ti",
        "task_instance",
        "dag_run",
        "conf",
        "dag",
        "task",
        "task_instance_key_str",
        "ts_nodash_with_tz",
        "var",
        "conn",
    }
)
