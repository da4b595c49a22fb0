"""LatestOnlyOperator in a manual run, PythonSensor, a sensor class of one's own, TriggerDagRunOperator."""

from datetime import datetime
from pathlib import Path

from airflow import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.latest_only import LatestOnlyOperator
from airflow.operators.python import PythonOperator
from airflow.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sensors.base import BaseSensorOperator
from airflow.sensors.python import PythonSensor


class FlagSensor(BaseSensorOperator):
    template_fields = ("path",)

    def __init__(self, path, **kwargs):
        super().__init__(**kwargs)
        self.path = path

    def poke(self, context):
        return Path(self.path).exists()


with DAG("more_operators", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False):
    latest = LatestOnlyOperator(task_id="latest_only")
    make = PythonOperator(task_id="make", python_callable=lambda ds: Path(f"flag_{ds}").touch())
    wait = PythonSensor(task_id="wait", python_callable=lambda ds: Path(f"flag_{ds}").exists(), poke_interval=0.2)
    own = FlagSensor(task_id="own_sensor", path="flag_{{ ds }}", poke_interval=0.2)
    trigger = TriggerDagRunOperator(task_id="trigger", trigger_dag_id="more_target", conf={"day": "{{ ds }}"})
    latest >> make >> wait >> own >> trigger >> EmptyOperator(task_id="done")

with DAG("more_target", start_date=datetime(2024, 1, 1), schedule=None):
    EmptyOperator(task_id="noop")
