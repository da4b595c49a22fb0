"""ShortCircuitOperator and @task.short_circuit: a falsy result skips everything downstream."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task
from airflow.models.baseoperator import chain
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import ShortCircuitOperator

with DAG("short_circuit", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    cond_true = ShortCircuitOperator(task_id="condition_is_true", python_callable=lambda: True)
    cond_false = ShortCircuitOperator(task_id="condition_is_false", python_callable=lambda: False)
    ds_true = [EmptyOperator(task_id=f"true_{i}") for i in [1, 2]]
    ds_false = [EmptyOperator(task_id=f"false_{i}") for i in [1, 2]]
    chain(cond_true, *ds_true)
    chain(cond_false, *ds_false)

    @task.short_circuit()
    def check(value):
        return value

    check.override(task_id="check_yes")(1) >> EmptyOperator(task_id="after_yes")
