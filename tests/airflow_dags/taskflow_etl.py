"""The TaskFlow tutorial (Airflow 2 imports): results passed between tasks, multiple_outputs."""

import json

import pendulum
from airflow.decorators import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2021, 1, 1, tz="UTC"), catchup=False, tags=["example"])
def tutorial_taskflow_api():
    @task()
    def extract():
        return json.loads('{"1001": 301.27, "1002": 433.21, "1003": 502.22}')

    @task(multiple_outputs=True)
    def transform(order_data_dict: dict):
        return {"total_order_value": sum(order_data_dict.values())}

    @task()
    def load(total_order_value: float):
        with open("total.out", "w") as out:
            out.write(f"{total_order_value:.2f}")

    order_summary = transform(extract())
    load(order_summary["total_order_value"])


tutorial_taskflow_api()
