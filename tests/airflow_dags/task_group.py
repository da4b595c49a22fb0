"""TaskGroup context manager and @task_group, group >> group, nested ids."""

from datetime import datetime

from airflow import DAG
from airflow.decorators import task, task_group
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.utils.task_group import TaskGroup

with DAG(dag_id="task_group", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("section_1", tooltip="Tasks for section_1") as section_1:
        task_1 = EmptyOperator(task_id="task_1")
        task_2 = BashOperator(task_id="task_2", bash_command="echo 1")
        task_3 = EmptyOperator(task_id="task_3")
        task_1 >> [task_2, task_3]

    @task_group
    def section_2():
        @task
        def inner():
            return "x"

        EmptyOperator(task_id="first") >> inner()

    end = EmptyOperator(task_id="end")
    start >> section_1 >> section_2() >> end
