"""Trigger rules: one_failed, all_done, all_success after a failure, none_failed."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator

with DAG("trigger_rules", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    ok = BashOperator(task_id="ok", bash_command="true")
    broken = BashOperator(task_id="broken", bash_command="exit 3")
    alert = EmptyOperator(task_id="alert", trigger_rule="one_failed")
    cleanup = BashOperator(task_id="cleanup", bash_command="echo done > cleanup.out", trigger_rule="all_done")
    report = EmptyOperator(task_id="report")
    [ok, broken] >> alert
    [ok, broken] >> cleanup
    [ok, broken] >> report
