"""@task.branch returning a list of ids (Airflow 3 provider paths)."""

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, task

with DAG("branch_taskflow", start_date=pendulum.datetime(2024, 1, 1), schedule=None):

    @task.branch
    def pick(**context):
        return ["left", "middle"]

    left, middle, right = EmptyOperator(task_id="left"), EmptyOperator(task_id="middle"), EmptyOperator(task_id="right")
    pick() >> [left, middle, right]
