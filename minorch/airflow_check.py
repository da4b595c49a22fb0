"""`minorch airflow-check`: what each Airflow DAG file of a folder needs before it moves to minorch.

Files are loaded as `minorch up` would load them (in the isolated loader child, with the
`airflow.*` names served), except that a name minorch does not have is noted and stood in for, so
one report lists every unsupported construct of a file, not only the first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .airflow import CHECK_ENV, ENV
from .config import display_path
from .errors import MinorchError


@dataclass
class FileReport:
    file: str
    status: str  # "loads", "loads with warnings" or "cannot load"
    dags: list[str] = field(default_factory=list)
    used: list[str] = field(default_factory=list)  # the Airflow names the file uses
    unsupported: dict[str, str] = field(default_factory=dict)  # name -> what to write instead
    problems: list[str] = field(default_factory=list)  # errors, then warnings, one line each


def python_files(paths: list[Path]) -> list[Path]:
    """The .py files named, and those under the folders named (sorted; hidden folders skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.py") if not any(part.startswith(".") for part in p.parts))
        elif path.exists():
            found.append(path)
        else:
            raise MinorchError(f"{path}: no such file or folder", hint="name Airflow DAG files or their folder")
    return found


def check(paths: list[Path], timeout: float) -> list[FileReport]:
    """One report per Python file under `paths`."""
    from .registry import import_python
    from .spec import build_dag

    files = python_files(paths)
    saved = {name: os.environ.get(name) for name in (ENV, CHECK_ENV)}
    os.environ.update({ENV: "on", CHECK_ENV: "1"})
    try:
        results = import_python(files, timeout)
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    reports = []
    for result in results:
        name = display_path(Path(result["file"]))
        report = FileReport(file=name, status="loads", used=result.get("airflow_names", []))
        report.unsupported = result.get("unsupported", {})
        if "error" in result:
            where = f"{name}:{result['line']}" if result.get("line") else name
            hint = f" ({result['hint']})" if result.get("hint") else ""
            report.problems.append(f"{where}: {result['error']}{hint}")
        for dag_id, spec in result.get("dags", {}).items():
            try:
                build_dag(dag_id, spec, file=name)
                report.dags.append(dag_id)
            except MinorchError as err:
                report.problems.append(str(err))
        report.problems += [f"{name}: {text}" for text in report.unsupported.values()]
        warnings = [
            f"{name}:{w['line']}: {w['warning']}" if w["line"] else f"{name}: {w['warning']}"
            for w in result.get("warnings", ())
        ]
        if report.problems or report.unsupported:
            report.status = "cannot load"
        elif warnings:
            report.status = "loads with warnings"
        report.problems += [f"warning: {w}" for w in warnings]
        reports.append(report)
    return reports
