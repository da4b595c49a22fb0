"""minorch: Airflow's model — DAGs, cron schedules, retries, timeouts, backfills — in one
process and one SQLite file, with a terminal UI.

The Python API for DAG files::

    from minorch import DAG, task, shell

    with DAG("etl", schedule="@daily", retries=2):
        extract = shell("extract", "curl -fsS https://example.com/{{ ds }}.csv -o /data/{{ ds }}.csv")

        @task
        def load(ds):
            ...

        extract >> load()
"""

from .dag import DAG, chain, dag, sensor, setup, shell, task, teardown
from .errors import SkipTask

__all__ = ["DAG", "SkipTask", "chain", "dag", "sensor", "setup", "shell", "task", "teardown"]
__version__ = "0.1.0"
