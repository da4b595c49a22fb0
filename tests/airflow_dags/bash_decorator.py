"""@task.bash: the function returns the command; its last line of output is the result."""

from airflow.decorators import dag, task


@dag(schedule=None)
def bash_decorator():
    @task.bash
    def say(word: str) -> str:
        return f"echo {word}-{{{{ ds_nodash }}}}"

    @task
    def keep(line: str):
        with open("bash_decorator.out", "w") as out:
            out.write(line)

    keep(say("hi"))


bash_decorator()
