"""Dynamic task mapping: expand over an upstream result, partial, results collected in order."""

from datetime import datetime

from airflow.decorators import task
from airflow.models.dag import DAG

with DAG(dag_id="mapping", start_date=datetime(2022, 3, 4), schedule=None) as dag:

    @task
    def make_list():
        return [1, 2, 3]

    @task
    def add_one(x: int, base: int):
        return x + base

    @task
    def sum_it(values):
        with open("mapped_sum.out", "w") as out:
            out.write(str(sum(values)))

    sum_it(add_one.partial(base=10).expand(x=make_list()))
