"""default_args retries: a task that fails on its first try succeeds on its second."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

default_args = {"owner": "data", "retries": 2, "retry_delay": timedelta(seconds=0)}
with DAG("retries", default_args=default_args, start_date=datetime(2024, 1, 1), schedule_interval="@daily"):
    BashOperator(
        task_id="flaky",
        bash_command="if [ -f tried ]; then echo ok > flaky.out; else touch tried; exit 1; fi",
    )
