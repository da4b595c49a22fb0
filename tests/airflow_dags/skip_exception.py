"""AirflowSkipException skips a task; its downstream task with the default rule is skipped too."""

from datetime import datetime

from airflow import DAG
from airflow.exceptions import AirflowSkipException
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator


def maybe():
    raise AirflowSkipException("nothing new today")


with DAG("skip_exception", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="maybe", python_callable=maybe) >> EmptyOperator(task_id="after")
    EmptyOperator(task_id="independent")
