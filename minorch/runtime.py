"""What runs inside a Python task's child process: ``python -m minorch.runtime SPEC_PATH``.

The scheduler writes the spec with `write_spec`; this process reads it, finds the task's
function, calls it with the context values its parameters name, and stores the return
value as JSON (XCom). Everything printed goes to the attempt's log file.

Exit codes: 0 success, 1 failed (the reason is the last lines of the log), 99 skipped
(the task raised `minorch.SkipTask`), 2 the spec could not be read.

The spec (JSON)::

    {"target": {"kind": "ref", "ref": "pkg.mod:func", "sys_path": ["/abs/project"]}
            or {"kind": "dagfile", "path": "/abs/dags/etl.py", "dag_id": "etl", "task_id": "transform"},
     "context": {"ds": "2024-01-15", "logical_date": "2024-01-15T00:00:00+01:00", ..., "timezone": "Europe/Berlin"},
     "xcom": {"extract_orders": [1, 2, 3]},
     "result_path": "/abs/.../result.json",
     "max_result_bytes": 65536}

Argument rules: a parameter named like a context value (``ds``, ``params``,
``logical_date`` as an aware datetime in the DAG's timezone, ``xcom``, ...) receives it;
arguments given where a Python DAG file calls the task (literals, or an upstream task
whose result is passed) fill the rest and win over context values of the same name;
a ``**kwargs`` parameter receives the whole context.

Imports stay small (no Jinja, SQLite, croniter or Textual): this runs once per try.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import math
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from minorch.errors import MinorchError, SkipTask, TaskFailed, did_you_mean

if TYPE_CHECKING:
    from minorch.store import Store

EXIT_SUCCESS = 0
EXIT_FAILED = 1
EXIT_BAD_SPEC = 2
EXIT_SKIPPED = 99
EXIT_NOT_YET = 100  # a Python sensor's condition is not met yet

#: Context values that travel as ISO 8601 text and reach task functions as datetimes.
DATETIME_KEYS = ("logical_date", "data_interval_start", "data_interval_end")

#: Context values that are objects: not written to the spec (the task process makes its own `ti`, `dag_run`).
_REBUILT = frozenset({"macros", "xcom", "ti", "task_instance", "dag_run", "dag", "task", "var", "conn"})

_FIX_RESULT = "return a list, dict, str or number — or write big data to a file and return its path"


class _Failed(Exception):
    """The task failed. A message is printed as the log's last line; without one, a traceback was printed."""


def write_spec(
    path: str | os.PathLike,
    *,
    target: dict,
    context: dict,
    result_path: str | os.PathLike,
    max_result_bytes: int,
    results: dict | None = None,
) -> None:
    """Write the spec `main` reads, private to the user (0600).

    `context` is what `minorch.templates.build_context` returns: its datetimes travel as
    ISO 8601, ``macros`` stays behind, and ``xcom`` goes under its own key.
    """
    plain = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in context.items()
        if key not in _REBUILT
    }
    document = {
        "target": target,
        "context": plain,
        "xcom": context["xcom"],
        "result_path": os.fspath(result_path),
        "max_result_bytes": max_result_bytes,
        # where `ti.xcom_pull` reads and `ti.xcom_push` writes: {"db_path", "run_pk", "keys_path",
        # "multiple_outputs", "do_xcom_push"}
        "results": results or {},
    }
    _write_private(os.fspath(path), json.dumps(document).encode())


def main(argv: list[str]) -> int:
    """Run the task described by the spec file ``argv[0]``; returns the exit code."""
    # Line-buffered, so an operator tailing the log sees output as it is printed.
    if isinstance(sys.stdout, io.TextIOWrapper):  # always, unless a caller replaced it
        sys.stdout.reconfigure(line_buffering=True)
    if len(argv) != 1:
        _say("usage: python -m minorch.runtime SPEC_PATH")
        return EXIT_BAD_SPEC
    try:
        with open(argv[0], encoding="utf-8") as file:
            spec = json.load(file)
    except (OSError, ValueError) as e:
        _say(f"cannot read the task spec {argv[0]}: {e}")
        return EXIT_BAD_SPEC
    result_path = spec["result_path"]
    if os.path.exists(result_path):  # a result left by an earlier try must not count for this one
        os.unlink(result_path)
    results = spec.get("results", {})
    context = _context(spec)
    try:
        func, given, label = _resolve(spec["target"], spec["xcom"], context["ti"])
        kwargs = _arguments(func, context, given, label)
        result = _user_code(func, **kwargs)
        if results.get("sensor"):  # a Python sensor: truthy (or PokeReturnValue.is_done) means met
            done = result.is_done if hasattr(result, "is_done") else bool(result)
            result = getattr(result, "xcom_value", None) if hasattr(result, "is_done") else None
            if not done:
                _say("not yet")
                return EXIT_NOT_YET
        pushed = context["ti"].pushed
        if results.get("multiple_outputs") and result is not None:
            if not isinstance(result, dict) or not all(isinstance(k, str) for k in result):
                raise _Failed(
                    f"multiple_outputs=True needs a dict with string keys, but the task returned {_a(result)}"
                )
            pushed.update(result)
        if result is not None and results.get("do_xcom_push", True):
            _store(result, result_path, spec["max_result_bytes"])
        if pushed and results.get("keys_path"):
            _store(pushed, results["keys_path"], spec["max_result_bytes"])
    except SkipTask as e:
        _say(f"task skipped: {e}" if str(e) else "task skipped")
        return EXIT_SKIPPED
    except _Failed as e:
        if str(e):
            _say(str(e))
        return EXIT_FAILED
    return EXIT_SUCCESS


def _resolve(target: dict, xcom: dict, ti: TaskInstance) -> tuple[Callable, dict, str]:
    """(function, arguments given in the DAG file, label for messages)."""
    if target["kind"] == "ref":
        return _import_ref(target["ref"], target.get("sys_path", [])), {}, target["ref"]
    path, dag_id, task_id = target["path"], target["dag_id"], target["task_id"]
    from minorch.dagfile import load_dag_file

    try:
        dags = PRELOADED.get(path) or load_dag_file(path)
    except SkipTask:
        raise
    except MinorchError as e:
        raise _Failed(f"cannot load {path}: {e}") from None
    except Exception as e:
        raise _traceback_failure(e) from None
    found = next((dag for dag in dags if dag.dag_id == dag_id), None)
    if found is None:
        hint = did_you_mean(dag_id, [dag.dag_id for dag in dags]) or "was it renamed?"
        raise _Failed(f"{path} no longer defines DAG '{dag_id}' ({hint})")
    task = found.tasks.get(task_id)
    if task is None or task.func is None:
        hint = did_you_mean(task_id, found.tasks) or "was it renamed?"
        raise _Failed(f"DAG '{dag_id}' in {path} has no Python task '{task_id}' ({hint})")
    given = dict(task.call_kwargs)
    # An upstream that returned None stored no result; its argument is None, as in Airflow.
    for name, upstream in task.xcom_args.items():
        if isinstance(upstream, list):  # [task id, key]: one keyed result
            given[name] = ti.xcom_pull(task_ids=upstream[0], key=upstream[1])
        else:
            given[name] = xcom.get(upstream)
    return task.func, given, f"task '{task_id}' of DAG '{dag_id}'"


#: DAG files this process imported before the try began (path -> its DAGs): a fork of the fork
#: server's generation for that file (`minorch.executors.forkserver`) finds its task here.
PRELOADED: dict[str, list] = {}
#: The signatures of their tasks' functions, read once there instead of in each fork.
_SIGNATURES: dict[Callable, inspect.Signature] = {}


def preload(path: str, spec_path: str) -> None:
    """Import the DAG file at `path` now, for tries forked later; raises what importing raises.
    Then read its tasks' signatures and the spec of the try that asked for it as a try would,
    without calling anything of the DAG file: what that makes once (signatures, the DAG's time
    zone) each fork finds made, instead of making it in memory it shares with its parent."""
    from minorch.dagfile import load_dag_file

    PRELOADED[path] = load_dag_file(path)
    for dag in PRELOADED[path]:
        for task in dag.tasks.values():
            if inspect.isfunction(task.func):  # a plain function: reading its signature runs none of its code
                with contextlib.suppress(TypeError, ValueError):  # the try says so
                    _SIGNATURES[task.func] = inspect.signature(task.func)
    try:
        with open(spec_path, encoding="utf-8") as file:
            _context(json.load(file))
    except Exception:  # noqa: BLE001 - the try itself reports a bad spec
        pass


def _import_ref(ref: str, sys_path: list[str]) -> Callable:
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise _Failed(f"task target '{ref}' is not a reference; write 'package.module:function'")
    sys.path[:0] = sys_path
    try:
        obj = importlib.import_module(module_name)
    except SkipTask:
        raise
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise _Failed(
                f"cannot import '{module_name}' for task target '{ref}': {e} "
                f"(searched the project folder {sys_path} and installed packages)"
            ) from None
        raise _traceback_failure(e) from None
    except Exception as e:
        raise _traceback_failure(e) from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            hint = did_you_mean(part, [name for name in dir(obj) if not name.startswith("_")])
            raise _Failed(f"task target '{ref}': '{module_name}' has no '{part}'" + (f" ({hint})" if hint else ""))
        obj = getattr(obj, part)
    if not callable(obj):
        raise _Failed(f"task target '{ref}' is a {type(obj).__name__}, not a function")
    return obj


def _context(spec: dict) -> dict:
    context = dict(spec["context"])
    zone = ZoneInfo(context["timezone"])
    for key in DATETIME_KEYS:
        context[key] = datetime.fromisoformat(context[key]).astimezone(zone)
    context["xcom"] = spec["xcom"]
    results = spec.get("results", {})
    context["ti"] = context["task_instance"] = TaskInstance(
        dag_id=context.get("dag_id", ""),
        task_id=context.get("task_id", ""),
        run_id=context.get("run_id", ""),
        try_number=context.get("try_number", 0),
        map_index=context.get("map_index", -1),
        pull=_store_puller(results.get("db_path"), results.get("run_pk")),
        db_path=results.get("db_path"),
    )
    context["dag_run"] = dag_run_view(context)
    return context


def _store_puller(db_path: str | None, run_pk: int | None) -> Callable:
    """`pull(task_id, key, map_index)` reading the state file; opened on first use only."""
    opened: list[Store] = []

    def pull(task_id: str, key: str, map_index: int) -> object:
        if db_path is None:
            raise _Failed("xcom_pull is not available here (no state file was given to this task)")
        if run_pk is None:  # a try outside any run (`tasks test` of a date that has none): nothing to pull
            return None
        if not opened:
            from minorch.store import Store

            opened.append(Store(db_path, readonly=True))
        return opened[0].pull_xcom(run_pk, task_id, key, map_index)

    return pull


class Namespace(dict):
    """A dict whose keys read as attributes too: `dag_run.conf` in Python, `{{ dag_run.conf }}` in templates."""

    __getattr__ = dict.__getitem__


def dag_run_view(context: dict) -> Namespace:
    """Airflow's `dag_run` as far as minorch has it: run_id, run_type, conf, logical_date, data_interval_*."""
    return Namespace(
        dag_id=context.get("dag_id", ""),
        run_id=context.get("run_id", ""),
        run_type=context.get("run_id", "").split("__", 1)[0],
        conf=context.get("conf", {}),
        logical_date=context["logical_date"],
        data_interval_start=context["data_interval_start"],
        data_interval_end=context["data_interval_end"],
    )


class TaskInstance:
    """What a task sees as `ti` (Airflow's names): its ids and try, and results of the run's tasks —
    `xcom_pull(task_ids=..., key=..., map_indexes=...)` from any task, `xcom_push(key, value)`."""

    def __init__(
        self,
        *,
        dag_id: str,
        task_id: str,
        run_id: str,
        try_number: int,
        map_index: int,
        pull,
        db_path: str | None = None,
    ) -> None:
        self.dag_id, self.task_id, self.run_id = dag_id, task_id, run_id
        self._db_path = db_path
        self.try_number, self.map_index = try_number, map_index
        self._pull = pull
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        if not isinstance(key, str) or not key or key == "return_value":
            raise ValueError(f"xcom_push key must be a non-empty string other than 'return_value', not {key!r}")
        self.pushed[key] = value

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        key: str = "return_value",
        map_indexes: int | list[int] | None = None,
        default: object = None,
    ) -> object:
        """One value for one task id (and one map index); a list for a list of either. `task_ids=None`
        means this task; `map_indexes=None` for a mapped task's return value is the list of its copies'."""
        ids = [self.task_id if task_ids is None else task_ids] if not isinstance(task_ids, list) else task_ids
        indexes = map_indexes if isinstance(map_indexes, list) else [-1 if map_indexes is None else map_indexes]
        found = [self._pull(tid, key, index) for tid in ids for index in indexes]
        found = [default if value is None else value for value in found]
        return found if isinstance(task_ids, list) or isinstance(map_indexes, list) else found[0]

    def external_states(self, dag_id: str, task_id: str, moments: list[datetime]) -> dict[datetime, list[str]]:
        """{logical date: the states of `task_id` in the runs of `dag_id` at that date} (an external task
        sensor's `execution_date_fn`), read from the state file."""
        if not self._db_path:
            raise _Failed("this try has no state file to read other DAGs' runs from")
        from minorch.records import iso
        from minorch.store import Store

        store = Store(self._db_path, readonly=True)
        try:
            second = timedelta(seconds=1)
            return {m: store.task_states_between(dag_id, task_id, iso(m), iso(m + second)) for m in moments}
        finally:
            store.close()

    def __repr__(self) -> str:
        return f"<TaskInstance {self.dag_id}.{self.task_id} {self.run_id} try {self.try_number}>"


def _arguments(func: Callable, context: dict, given: dict, label: str) -> dict:
    """Keyword arguments for `func`; raises _Failed naming any parameter nothing fills."""
    try:
        parameters = (_SIGNATURES.get(func) or inspect.signature(func)).parameters.values()
    except (TypeError, ValueError) as e:
        raise _Failed(f"{label}: cannot read the parameters of {func!r}: {e}") from None
    shown = f"{getattr(func, '__qualname__', func)}({', '.join(p.name for p in parameters)})"
    by_name = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
    kwargs = {**context, **given} if takes_all else {}
    for p in parameters:
        if p.kind in by_name and (p.name in given or p.name in context):
            kwargs[p.name] = given[p.name] if p.name in given else context[p.name]
        elif p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise _Failed(
                f"{label}: {shown} needs '{p.name}', which is neither a context value "
                f"nor given where the task is called; pass it in the DAG file, give it a "
                f"default, or use a context name: {', '.join(sorted(context))}"
            )
    unknown = [name for name in given if name not in kwargs]
    if unknown:
        hint = did_you_mean(unknown[0], [p.name for p in parameters])
        raise _Failed(
            f"{label} is called with '{unknown[0]}', but {shown} has no such parameter" + (f" ({hint})" if hint else "")
        )
    return kwargs


def _user_code(func: Callable, **kwargs: object) -> object:
    try:
        return func(**kwargs)
    except SkipTask:
        raise
    except TaskFailed as e:
        raise _Failed(str(e)) from None
    except Exception as e:
        # Start the traceback at the user's function: this frame is no help to them.
        here = e.__traceback__
        raise _traceback_failure(e.with_traceback(here.tb_next if here is not None else None)) from None


def _traceback_failure(e: Exception) -> _Failed:
    """Print `e` with its traceback (user code failed: that is what they need) and return _Failed()."""
    import traceback

    sys.stdout.flush()
    traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    return _Failed()


class _NotJSON(Exception):
    def __init__(self, obj: object) -> None:
        super().__init__()
        self.obj = obj


def _refuse(obj: object) -> object:
    raise _NotJSON(obj)


def _store(result: object, path: str, limit: int) -> None:
    """Write `result` as JSON to `path` atomically, or raise _Failed saying why it cannot be stored."""
    try:
        data = json.dumps(result, default=_refuse).encode()
    except _NotJSON as e:
        inner = "" if e.obj is result else f" containing {_a(e.obj)}"
        raise _Failed(f"task returned {_a(result)}{inner}, which cannot be stored as JSON; {_FIX_RESULT}") from None
    except (TypeError, ValueError) as e:  # a non-string dict key, a circular reference
        raise _Failed(f"task returned {_a(result)} that cannot be stored as JSON ({e}); {_FIX_RESULT}") from None
    if len(data) > limit:
        raise _Failed(
            f"task returned {_size(len(data))}, over the {_size(limit)} limit for results; "
            "write it to a file and return the path"
        )
    _write_private(path, data)


def _write_private(path: str, data: bytes) -> None:
    """Replace `path` atomically (a temporary file renamed over it), mode 0600."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _a(obj: object) -> str:
    name = type(obj).__name__
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def _size(n: int) -> str:
    """``900 bytes``, ``120 KB`` (rounded up, so 65,537 bytes is 65 KB), ``3.5 MB``; K = 1024."""
    if n < 1024:
        return f"{n} bytes"
    if n < 2**20:
        return f"{math.ceil(n / 1024)} KB"
    return f"{n / 2**20:.1f} MB"


def _say(message: str) -> None:
    sys.stdout.flush()  # keep the task's own output before this line in the log
    print(f"minorch: {message}", file=sys.stderr, flush=True)


def run(spec_path: str) -> int:
    """Run the task of a spec and leave its exit code where a scheduler restarted after a crash
    looks for it ($MINORCH_STATUS_FILE). What `python -m minorch.runtime SPEC` and a fork of the
    fork server do; returns the exit code."""
    code = main([spec_path])
    path = os.environ.get("MINORCH_STATUS_FILE")
    if path:
        with open(path, "w") as handle:
            handle.write(str(code))
    return code


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(main(sys.argv[1:]))  # main prints the usage
    sys.exit(run(sys.argv[1]))
