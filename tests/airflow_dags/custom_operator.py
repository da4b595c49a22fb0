"""A BaseOperator subclass of the user's own, with template_fields rendered before execute."""

from datetime import datetime

from airflow.models.baseoperator import BaseOperator
from airflow.models.dag import DAG


class HelloOperator(BaseOperator):
    template_fields = ("name",)

    def __init__(self, name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context):
        message = f"Hello {self.name} on {context['ds']}"
        with open("hello.out", "w") as out:
            out.write(message)
        return message


with DAG("custom_operator", start_date=datetime(2024, 1, 1), schedule=None):
    HelloOperator(task_id="hello", name="{{ dag.dag_id }}")
