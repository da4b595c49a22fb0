"""Branching and short-circuits.

    check_day --(weekday)--> full_load --+
              \\--(weekend)-> light_load -+-> report      (report runs after whichever branch ran)
    has_new_data --(nothing new: skip the rest)--> transform -> publish

Try it: `minorch run branching --date 2024-01-15` (a Monday) and `--date 2024-01-13` (a Saturday).
"""

from datetime import date

from minorch import DAG, shell, task

with DAG("branching", schedule="@daily", description="Branch on the weekday; short-circuit when there is no data"):

    @task.branch
    def check_day(ds):
        """Follow full_load on weekdays and light_load at weekends."""
        return "full_load" if date.fromisoformat(ds).weekday() < 5 else "light_load"

    full = shell("full_load", "echo full load for {{ ds }}")
    light = shell("light_load", "echo light load for {{ ds }}")
    report = shell("report", "echo report for {{ ds }}", trigger_rule="none_failed_min_one_success")
    check_day() >> [full, light]
    [full, light] >> report

    @task.short_circuit
    def has_new_data(ds, params):
        """Falsy skips everything downstream: here, when params.rows is 0."""
        return params.get("rows", 10) > 0

    has_new_data() >> shell("transform", "echo transform") >> shell("publish", "echo publish")
