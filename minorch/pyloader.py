"""The child process that imports Python DAG files, so a bad file cannot hurt the scheduler.

Run as ``python -m minorch.pyloader TIMEOUT FILE...``. For each file it prints one JSON line:
``{"file": ..., "dags": {dag_id: spec}}`` or ``{"file": ..., "error": ..., "line": N}``, with
``"stamp"`` (the file's `stamp` before it was read) and ``"modules"`` (the project's own modules
loaded so far, each with its stamp), which say when a kept result is out of date.
``python -m minorch.pyloader --targets TIMEOUT ROOT REF...`` imports task targets
(``python = "module:function"``) instead, as a try would, and prints ``{"ref": ..., "error": ...}``
for each (``error`` null when it imports and is callable).
A file that runs longer than TIMEOUT seconds is interrupted by SIGALRM and reported as hung
(with the line it was running);
the parent (registry) also kills this process if a file blocks in C code and ignores the alarm.
"""

from __future__ import annotations

import json
import os
import signal
import sys


class _Hung(BaseException):
    pass


_MINORCH = os.path.dirname(os.path.abspath(__file__)) + os.sep
_INSTALLED = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})


def stamp(path: str) -> list[int] | None:
    """[mtime in ns, size, inode] of a file, or None when it is gone: what says a file changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


class OwnModules:
    """The project's own modules imported so far: files of modules outside the interpreter's
    installation and outside minorch (helpers beside DAG files, the project's packages)."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.files: dict[str, list[int] | None] = {}

    def update(self) -> dict[str, list[int] | None]:
        for name in set(sys.modules) - self.seen:
            self.seen.add(name)
            file = getattr(sys.modules.get(name), "__file__", None)
            if isinstance(file, str) and not name.startswith("minorch_dagfile_"):
                file = os.path.abspath(file)
                if not file.startswith(_INSTALLED) and not file.startswith(_MINORCH):
                    self.files[file] = stamp(file)
        return self.files


def _on_alarm(signum, frame):
    raise _Hung()


def _error_line(err: BaseException, path: str) -> int | None:
    if isinstance(err, SyntaxError) and err.filename and os.path.abspath(err.filename) == path:
        return err.lineno
    import traceback

    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if os.path.abspath(frame.filename) == path:
            line = frame.lineno
    return line


def load_one(path: str, timeout: float) -> dict:
    from . import airflow
    from .assets import DECLARED
    from .dagfile import load_dag_file
    from .errors import MinorchError
    from .spec import dag_to_spec

    path = os.path.abspath(path)
    airflow.start_file()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    DECLARED.append([])
    try:
        dags = load_dag_file(path)
    except _Hung as err:
        return {
            "file": path,
            "error": f"did not finish loading within {timeout:g}s",
            "hint": "a DAG file must only define DAGs; move slow work into tasks",
            "line": _error_line(err, path),
        }
    except MinorchError as err:
        return {"file": path, "error": err.message, "hint": err.hint, "line": err.line or _error_line(err, path)}
    except SystemExit as err:
        return {
            "file": path,
            "error": f"called sys.exit({err.code!r}) while loading",
            "hint": None,
            "line": _error_line(err, path),
        }
    except BaseException as err:  # noqa: BLE001 - any failure of user code is reported, never fatal
        message = f"{type(err).__name__}: {err}" if not isinstance(err, SyntaxError) else f"SyntaxError: {err.msg}"
        return {
            "file": path,
            "error": message,
            "hint": "fix the error shown, then run `minorch validate`",
            "line": _error_line(err, path),
        }
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        assets = {a.name: a.declaration() for a in DECLARED.pop()}
    specs = {}
    for made in dags:
        if made.dag_id in specs:
            return {
                "file": path,
                "error": f"DAG id '{made.dag_id}' is defined twice in this file",
                "hint": "give each DAG a unique id",
                "line": made.line,
            }
        specs[made.dag_id] = dag_to_spec(made)
    try:
        json.dumps(specs)
    except (TypeError, ValueError):
        what, value, line = _not_plain(specs)
        inner = _inner(value)
        return {
            "file": path,
            "error": f"{what} {'is' if inner is value else 'holds'} a {type(inner).__name__}, not a plain value",
            "hint": "options must be strings, numbers, booleans, lists or dicts; remove it or give it in that form",
            "line": line,
        }
    warnings = [{"line": line, "warning": text} for _, line, text in airflow.WARNINGS]
    return {"file": path, "dags": specs, "assets": assets, **({"warnings": warnings} if warnings else {})}


def _not_plain(specs: dict) -> tuple[str, object, int | None]:
    """The first option of `specs` that JSON cannot hold: (which, its value, the line of its DAG or task)."""
    for dag_id, spec in specs.items():
        for tid, entry in spec.get("tasks", {}).items():
            for key, value in entry.items():
                if not _plain_value(value):
                    return f"option {key} of task '{tid}'", value, entry.get("_line")
        for key, value in spec.items():
            if key != "tasks" and not _plain_value(value):
                return f"option {key} of DAG '{dag_id}'", value, spec.get("_line")
    return "an option", None, None


def _inner(value: object) -> object:
    """The first value inside `value` (a list or dict) that JSON cannot hold, or `value` itself."""
    items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return next((_inner(item) for item in items if not _plain_value(item)), value)


def _plain_value(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def check_target(ref: str, root: str, timeout: float) -> dict:
    """Import a task target as a try would; the error a try would fail with, or None."""
    from .runtime import _Failed, _import_ref

    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        _import_ref(ref, [root])
    except _Hung:
        return {"ref": ref, "error": f"importing it did not finish within {timeout:g}s"}
    except _Failed as err:
        cause = err.__context__  # no message: the import raised, and a try would print its traceback
        message = str(err) or (f"importing it raised {type(cause).__name__}: {cause}" if cause else "it failed")
        return {"ref": ref, "error": message}
    except BaseException as err:  # noqa: BLE001 - SystemExit, SkipTask at import: reported, never fatal
        return {"ref": ref, "error": f"{type(err).__name__} while importing: {err}"}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return {"ref": ref, "error": None}


def main(argv: list[str]) -> None:
    from . import airflow

    targets = argv[0] == "--targets"
    if targets:
        argv = argv[1:]
    timeout = float(argv[0])
    signal.signal(signal.SIGALRM, _on_alarm)
    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so neither
    # print() nor os.write(1, ...) nor a child process of a DAG file can corrupt it.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.dont_write_bytecode = True  # loading DAG files leaves no __pycache__ in DAG folders
    if targets:
        for ref in argv[2:]:
            out.write(json.dumps(check_target(ref, argv[1], timeout)) + "\n")
            out.flush()
        return
    own = OwnModules()
    for path in argv[1:]:
        before = stamp(os.path.abspath(path))
        result = load_one(path, timeout)
        result.update(stamp=before, modules=own.update())
        if airflow.install() == "real airflow":
            result["real_airflow"] = True
        if airflow.USED or airflow.UNSUPPORTED:  # what `minorch airflow-check` reports
            result.update(airflow_names=sorted(airflow.USED), unsupported=dict(airflow.UNSUPPORTED))
        out.write(json.dumps(result) + "\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
