"""FileSensor waits for a file a task writes; BashSensor waits for a command to succeed."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.sensors.bash import BashSensor
from airflow.sensors.filesystem import FileSensor

with DAG("sensors_dag", start_date=datetime(2024, 1, 1), schedule=None) as dag:
    make = BashOperator(task_id="make", bash_command="touch ready_{{ ds_nodash }}.flag")
    wait = FileSensor(task_id="wait_for_file", filepath="ready_{{ ds_nodash }}.flag", poke_interval=0.2, timeout=20)
    check = BashSensor(task_id="check", bash_command="test -f ready_{{ ds_nodash }}.flag", poke_interval=0.2)
    make >> wait >> check
