"""The DAG file `minorch import-crontab` writes, as TOML (`to_toml`) or Python (`to_python`).

Both carry the same DAGs: one per crontab entry, with a task ``run``. Every DAG states what cron
did, so `[defaults]` in minorch.toml cannot change it: ``max_active_runs = 1`` (a job never
overlaps itself), ``catchup`` false (or "latest" with --anacron), no ``timeout`` (cron never kills
a job) and ``retries`` (0 unless asked, as cron never repeats a job).
"""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime
from typing import Any

from .crontab import ConvertedCrontab, CronEntry
from .durations import format_duration


def task_command(entry: CronEntry) -> str:
    """The command minorch runs for `entry`: the user wrapper and the stdin here-document applied."""
    command = entry.command
    if entry.user not in (None, "root"):
        command = f"runuser -u {shlex.quote(entry.user)} -- {entry.shell} -c {shlex.quote(command)}"
    if not entry.stdin:
        return command  # cron's empty input (a trailing %) is no input
    mark = "MINORCH_STDIN"
    while mark in entry.stdin.split("\n"):
        mark += "_"
    body = entry.stdin if entry.stdin.endswith("\n") else entry.stdin + "\n"
    # Anything but a plain command gets braces, so the whole command reads the input as under cron.
    if re.search(r"[;&|#<>()`\\]|\$\(|^\s*(if|for|while|until|case|!|\{)\s", command):
        command = f"{{\n{command}\n}}"
    return f"{command} <<'{mark}'\n{body}{mark}"


def dag_options(entry: CronEntry, *, anacron: bool, retries: int, retry_delay: float) -> dict[str, Any]:
    """The DAG's options as Python values, in the order they are written."""
    options: dict[str, Any] = {"schedule": entry.schedule}
    if entry.timezone:
        options["timezone"] = entry.timezone
    if entry.comment:
        options["description"] = entry.comment
    options.update(max_active_runs=1, catchup="latest" if anacron else False, timeout=None, retries=retries)
    if retries:
        options["retry_delay"] = format_duration(retry_delay)
    if entry.mail:
        options["on_failure"] = [{"mail": address} for address in entry.mail]
    options["source_line"] = entry.line
    return options


def task_options(entry: CronEntry) -> dict[str, Any]:
    options: dict[str, Any] = {"command": task_command(entry)}
    if entry.env:
        options["env"] = dict(entry.env)
    if entry.shell != "/bin/sh" and entry.user in (None, "root"):
        options["shell"] = entry.shell
    return options


def _notes(entry: CronEntry) -> list[str]:
    notes = [f"line {entry.line}: {entry.text.strip()}"]
    if entry.user not in (None, "root"):
        notes.append(f"runs as {entry.user} through runuser: minorch must run as root")
    if entry.text.lstrip().startswith("-"):
        notes.append("the leading '-' only turned off cronie's syslog line for this job; minorch records every run")
    return notes


def header(converted: ConvertedCrontab, *, anacron: bool, retries: int, now: datetime | None) -> list[str]:
    """The lines (without comment marks) that open the file: where it came from, what was kept."""
    entries = converted.entries
    when = f" on {now:%Y-%m-%d}" if now else ""
    head = [
        f"Imported from {converted.source} by minorch import-crontab{when}.",
        "Review before use; see docs/moving-from-cron.md.",
        "Each DAG keeps cron's promises: max_active_runs = 1 (a run never overlaps the previous one), "
        + (
            'catchup = "latest"\n(after downtime the latest missed fire runs once, like anacron),'
            if anacron
            else "catchup = false\n(fires missed while minorch is down are skipped, like cron),"
        )
        + " no timeout (cron never kills a job) and "
        + (f"retries = {retries}." if retries else "no retries (cron runs a job once)."),
    ]
    if any(e.mail for e in entries):
        head.append("MAILTO became on_failure mail: minorch mails when a run fails; cron mailed any output.")
    if any(e.user not in (None, "root") for e in entries):
        head.append("Commands of users other than root run through runuser, which needs minorch to run as root.")
    if any(e.stdin for e in entries):
        head.append("Input after % is given as a here-document, which always ends with a newline.")
    if converted.skipped:
        head.append(f"{len(converted.skipped)} line(s) not imported:")
        head += [f"  line {s.line}: {s.text.strip()}\n    {s.reason}" for s in converted.skipped]
    return [line for text in head for line in text.split("\n")]


# ---------------------------------------------------------------- TOML


def to_toml(
    converted: ConvertedCrontab,
    *,
    anacron: bool = False,
    retries: int = 0,
    retry_delay: float = 300.0,
    now: datetime | None = None,
) -> str:
    """The text of a dags/crontab.toml: the header, then one DAG per entry."""
    out = [_comment(h) for h in header(converted, anacron=anacron, retries=retries, now=now)]
    for entry in converted.entries:
        table = f"dags.{entry.dag_id}"
        out += [""] + [_comment(note) for note in _notes(entry)] + [f"[{table}]"]
        options = dag_options(entry, anacron=anacron, retries=retries, retry_delay=retry_delay)
        out += [f"{key} = {_toml_value(value)}" for key, value in options.items()]
        out += ["", f"[{table}.tasks.run]"]
        out += [f"{key} = {_toml_value(value)}" for key, value in task_options(entry).items()]
    return "\n".join(out) + "\n"


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{_key(k)} = {_string(v)}" for k, v in value.items()) + " }"


_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _escape(text: str, keep: str = "") -> str:
    return "".join(
        ch if ch in keep else _ESCAPES.get(ch) or (f"\\u{ord(ch):04X}" if _CONTROL.match(ch) else ch) for ch in text
    )


def _string(text: str) -> str:
    """A one-line TOML basic string."""
    return f'"{_escape(text)}"'


def _text(text: str) -> str:
    """A TOML string; multi-line text as a literal '''block''' when it can be, else an escaped \"\"\"block\"\"\"."""
    if "\n" not in text:
        return _string(text)
    if "'''" not in text and not text.endswith("'") and not _CONTROL.search(text.replace("\n", "")):
        return f"'''\n{text}'''"  # the newline right after the opening quotes is not part of the value
    return f'"""\n{_escape(text, keep=chr(10) + chr(9))}"""'


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _string(name)


def _comment(text: str) -> str:
    """A comment line (TOML and Python alike); control characters are shown escaped."""
    return "# " + _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


# ---------------------------------------------------------------- Python


def to_python(
    converted: ConvertedCrontab,
    *,
    anacron: bool = False,
    retries: int = 0,
    retry_delay: float = 300.0,
    now: datetime | None = None,
) -> str:
    """The text of a dags/crontab.py using minorch's Python API: the header, then one
    `with DAG(...)` block per entry holding one `shell("run", ...)` task."""
    out = [_comment(h) for h in header(converted, anacron=anacron, retries=retries, now=now)]
    out += ["", "from minorch import DAG, shell"]
    for entry in converted.entries:
        out += (
            ["", ""]
            + [_comment(note) for note in _notes(entry)]
            + ["with DAG(", f"    {_python_value(entry.dag_id, 4)},"]
        )
        options = dag_options(entry, anacron=anacron, retries=retries, retry_delay=retry_delay)
        out += [f"    {key}={_python_value(value, 4)}," for key, value in options.items()]
        out += ["):", "    shell(", '        "run",']
        task = task_options(entry)
        out.append(f"        {_python_value(task.pop('command'), 8)},")
        out += [f"        {key}={_python_value(value, 8)}," for key, value in task.items()]
        out.append("    )")
    return "\n".join(out) + "\n"


def _python_value(value: Any, indent: int) -> str:
    """A Python literal in double quotes; text of several lines as one string per line in
    parentheses, a long dict one item per line."""
    pad = " " * (indent + 4)
    if isinstance(value, str):
        lines = value.splitlines(keepends=True)
        if len(lines) < 2:
            return json.dumps(value, ensure_ascii=False)  # a JSON string is a Python string literal
        return "(\n" + "\n".join(pad + json.dumps(line, ensure_ascii=False) for line in lines) + "\n" + pad[4:] + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_python_value(v, indent) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{_python_value(k, indent + 4)}: {_python_value(v, indent + 4)}" for k, v in value.items()]
        flat = "{" + ", ".join(items) + "}"
        if len(flat) + indent < 100:
            return flat
        return "{\n" + "".join(f"{pad}{item},\n" for item in items) + pad[4:] + "}"
    return repr(value)
