"""Keyed results: ti.xcom_push/xcom_pull between classic operators, and a BashOperator's last line."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator


def push(ti):
    ti.xcom_push(key="value from pusher 1", value=[1, 2, 3])
    return {"a": "b"}


def puller(ti):
    keyed = ti.xcom_pull(key="value from pusher 1", task_ids="push")
    returned = ti.xcom_pull(task_ids="push")
    bash = ti.xcom_pull(task_ids="bash_push")
    with open("pulled.out", "w") as out:
        out.write(f"{keyed} {returned} {bash}")


with DAG("xcom_classic", start_date=datetime(2024, 1, 1), schedule="@once", catchup=False, tags=["example"]):
    p = PythonOperator(task_id="push", python_callable=push)
    b = BashOperator(task_id="bash_push", bash_command='echo "first line"; echo "value_from_bash"')
    pull = PythonOperator(task_id="puller", python_callable=puller)
    [p, b] >> pull
