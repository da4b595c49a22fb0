"""BranchPythonOperator choosing one path; the join runs with none_failed_min_one_success."""

from datetime import datetime

from airflow.models import DAG
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import BranchPythonOperator
from airflow.utils.trigger_rule import TriggerRule

with DAG(dag_id="branch_classic", start_date=datetime(2024, 1, 1), schedule="@daily", catchup=False):
    run_this_first = EmptyOperator(task_id="run_this_first")
    branching = BranchPythonOperator(task_id="branching", python_callable=lambda: "branch_b")
    run_this_first >> branching
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    for option in ["branch_a", "branch_b", "branch_c"]:
        t = EmptyOperator(task_id=option)
        follow = EmptyOperator(task_id="follow_" + option)
        branching >> t >> follow >> join
