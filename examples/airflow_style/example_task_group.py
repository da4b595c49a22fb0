"""Task groups, setup/teardown, edge labels and keyed results, written as the Airflow docs teach them.

    start ─▸ [extract: orders ─▸ customers] ─▸ [transform: join ─▸ [checks: rows, nulls]] ─▸ report
    create_workdir (setup) ─▸ ... ─▸ remove_workdir (teardown: runs even if a check fails)

Try it: `minorch run example_task_group --date 2024-01-15`, then `minorch graph example_task_group`
(or `g` on its screen in `minorch ui`: each group is a box). `data_interval = "point"` gives Airflow 3's
dates: `data_interval_start` is the logical date.
"""

from minorch import DAG, Label, TaskGroup, setup, shell, task, teardown

WORK = ".minorch/data/example_task_group/{{ ds_nodash }}"

with DAG(
    "example_task_group",
    schedule="@daily",
    data_interval="point",
    doc_md="Task groups, setup/teardown and keyed results, Airflow style.",
    tags=["example"],
):

    @setup
    def create_workdir(ds_nodash):
        import os

        path = f".minorch/data/example_task_group/{ds_nodash}"
        os.makedirs(path, exist_ok=True)
        return path

    @teardown
    def remove_workdir(ds_nodash):
        import shutil

        shutil.rmtree(f".minorch/data/example_task_group/{ds_nodash}", ignore_errors=True)

    start = shell("start", "echo interval {{ data_interval_start }} .. {{ data_interval_end }}")
    workdir = create_workdir()

    with TaskGroup("extract", tooltip="Pull the sources") as extract:
        orders = shell("orders", f"printf 'id,total\\n1,10\\n2,32\\n' > {WORK}/orders.csv")
        customers = shell("customers", f"printf 'id,name\\n1,Ada\\n2,Lin\\n' > {WORK}/customers.csv")
        orders >> customers

    with TaskGroup("transform") as transform:

        @task(multiple_outputs=True)
        def join(ti):
            """Keyed results: `rows` and `total` become keys (`ti.xcom_pull(key="total")`)."""
            import csv

            with open(f"{ti.xcom_pull(task_ids='create_workdir')}/orders.csv") as handle:
                totals = [int(row["total"]) for row in csv.DictReader(handle)]
            return {"rows": len(totals), "total": sum(totals)}

        joined = join()
        with TaskGroup("checks"):
            rows = shell("rows", "test {{ ti.xcom_pull(task_ids='transform.join', key='rows') }} -gt 0")
            nulls = shell("nulls", f"! grep -q ',,' {WORK}/orders.csv")
            joined >> Label("validate") >> [rows, nulls]

    report = shell("report", "echo total {{ ti.xcom_pull(task_ids='transform.join', key='total') }}")
    cleanup = remove_workdir().as_teardown(setups=workdir)
    start >> workdir >> extract >> transform >> report >> cleanup
