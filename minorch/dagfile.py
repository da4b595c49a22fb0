"""Running a Python DAG file: the DAGs it creates, with `import airflow...` in it answered by minorch's names.

The loader (pyloader), a Python task's runtime and an Airflow callback each run DAG files through here; the
model (dag.py) only collects what a file creates.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from .airflow import finish_file, install
from .dag import Dag, collecting
from .errors import DagError


def load_dag_file(path: str) -> list[Dag]:
    """Execute a Python DAG file and return the DAGs it created (unbuilt: raw `given` options)."""
    install()  # `import airflow...` in the file gets minorch's names ([minorch] airflow_compat)
    name = "minorch_dagfile_" + "".join(c if c.isalnum() else "_" for c in os.path.abspath(path))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # not a file Python can load as a module
        raise DagError(f"{path}: cannot be imported as Python", hint="DAG files in Python end in .py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    with open(path, "rb") as file:
        # Compiled from the source each time, never from a cached .pyc: Python checks a .pyc against
        # the source's size and whole-second mtime, so an edit of the same size within a second would
        # run the old code.
        code = compile(file.read(), path, "exec", dont_inherit=True)
    with collecting() as found:
        exec(code, module.__dict__)
    finish_file(found, os.path.abspath(path))
    return found
