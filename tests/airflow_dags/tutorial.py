"""The Airflow 2 tutorial: classic BashOperator tasks, default_args, a templated command."""

from datetime import datetime, timedelta
from textwrap import dedent

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    "tutorial",
    default_args={
        "depends_on_past": False,
        "email": ["airflow@example.com"],
        "email_on_failure": False,
        "email_on_retry": False,
        "retries": 1,
        "retry_delay": timedelta(minutes=5),
    },
    description="A simple tutorial DAG",
    schedule=timedelta(days=1),
    start_date=datetime(2021, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    t1 = BashOperator(task_id="print_date", bash_command="date > print_date.out")
    t2 = BashOperator(task_id="sleep", depends_on_past=False, bash_command="sleep 0.1", retries=3)
    t1.doc_md = dedent("""#### Task Documentation""")
    dag.doc_md = __doc__
    templated_command = dedent(
        """
    {% for i in range(2) %}
        echo "{{ ds }} {{ macros.ds_add(ds, 7) }}" >> templated.out
    {% endfor %}
    """
    )
    t3 = BashOperator(task_id="templated", depends_on_past=False, bash_command=templated_command)
    t1 >> [t2, t3]
