"""cross_downstream links every pair; chain pairs equal lists one to one."""

from datetime import datetime

from airflow import DAG
from airflow.models.baseoperator import chain, cross_downstream
from airflow.operators.bash import BashOperator

with DAG("cross_downstream", start_date=datetime(2024, 1, 1), schedule=None):
    a, b, c, d = (BashOperator(task_id=n, bash_command=f"echo {n} >> order.out") for n in "abcd")
    e, f = (BashOperator(task_id=n, bash_command=f"echo {n} >> order.out") for n in "ef")
    cross_downstream([a, b], [c, d])
    chain([c, d], [e, f])
