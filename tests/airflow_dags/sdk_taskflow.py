"""Airflow 3 imports (airflow.sdk): a function called twice gets ids f and f__1."""

from airflow.sdk import chain, dag, task


@dag(schedule=None, catchup=False)
def sdk_taskflow():
    @task
    def number(n: int) -> int:
        return n

    @task
    def add(a: int, b: int) -> int:
        with open("sum.out", "w") as out:
            out.write(str(a + b))
        return a + b

    first, second = number(2), number(40)
    total = add(first, second)
    chain([first, second], total)


sdk_taskflow()
