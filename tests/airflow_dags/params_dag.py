"""DAG params with Param defaults reach templates and Python tasks."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.models.param import Param
from airflow.operators.bash import BashOperator

with DAG(
    "params_dag",
    start_date=datetime(2024, 1, 1),
    schedule=None,
    params={"table": Param("orders", type="string"), "limit": 5},
) as dag:
    BashOperator(task_id="show", bash_command="echo {{ params.table }} {{ params.limit }} > params.out")

    @task
    def use(params=None):
        with open("params_py.out", "w") as out:
            out.write(f"{params['table']}:{params['limit']}")

    use()
