"""Setup and teardown (Airflow 3): the teardown runs although the work failed; the run fails."""

import pendulum
from airflow.sdk import dag, setup, task, teardown


@dag(start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None, catchup=False)
def setup_teardown():
    @setup
    def create_cluster():
        open("cluster.up", "w").close()
        return "cluster-1"

    @task
    def work(cluster):
        raise RuntimeError(f"the work on {cluster} failed")

    @teardown
    def delete_cluster(cluster):
        import os

        os.remove("cluster.up")
        with open("teardown.out", "w") as out:
            out.write(cluster)

    cluster = create_cluster()
    work(cluster) >> delete_cluster(cluster)


setup_teardown()
