"""Classic PythonOperator: op_args, op_kwargs (templated), context by name and by **kwargs."""

from datetime import datetime

from airflow import DAG
from airflow.operators.python import PythonOperator


def greet(greeting, name, ds, **kwargs):
    with open("greet.out", "w") as out:
        out.write(f"{greeting} {name} {ds} {kwargs['ti'].task_id}")
    return name


def read(ti):
    with open("read.out", "w") as out:
        out.write(ti.xcom_pull(task_ids="greet"))


with DAG("python_operator", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as dag:
    greet_task = PythonOperator(
        task_id="greet", python_callable=greet, op_args=["hello"], op_kwargs={"name": "run-{{ ds_nodash }}"}
    )
    read_task = PythonOperator(task_id="read", python_callable=read)
    greet_task >> read_task
