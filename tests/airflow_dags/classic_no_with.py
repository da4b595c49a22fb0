"""Airflow 1/2 style: tasks take dag=dag, dependencies with set_upstream and <<, Label on an edge."""

from datetime import datetime

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.dummy import DummyOperator
from airflow.utils.edgemodifier import Label

dag = DAG("classic_no_with", start_date=datetime(2024, 1, 1), schedule_interval=None)
start = DummyOperator(task_id="start", dag=dag)
work = BashOperator(task_id="work", bash_command="echo {{ run_id }} > classic.out", dag=dag)
end = DummyOperator(task_id="end", dag=dag)
work.set_upstream(start)
end << Label("finished") << work
