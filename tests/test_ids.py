"""DAG and task ids name files (logs/<dag>/<run>/<task>/, runs/<dag>.lock) and are passed on
command lines: anything that cannot be both is refused when the DAG loads, in TOML and Python
alike, with one line naming the file and line. Property-based: any text as an id either loads
and then works as a real file name and a real CLI argument, or is refused that way."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from minorch.config import load_settings
from minorch.errors import DagError
from minorch.registry import load
from minorch.spec import MAX_ID_BYTES, build_dag

# Any text but lone surrogates (neither TOML nor a file name can hold them), with the edge
# cases made likely: a leading '-', dots, separators, NUL, long runs of multi-byte letters.
PIECES = st.sampled_from(["-", "--", ".", "..", "/", "\x00", "\n", " ", "é", "日本", "a", "_", "x" * 60, "ß" * 40])
IDS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    st.lists(PIECES, max_size=12).map("".join),
    st.integers(1, 400).map(lambda n: "t" * n),
    st.integers(1, 200).map(lambda n: "é" * n),
)


def usable(ident: str, folder: Path) -> None:
    """The id works as what minorch uses it for: a folder, a lock file name, a CLI argument."""
    assert not ident.startswith("-") and len(ident.encode()) <= MAX_ID_BYTES
    (folder / ident).mkdir()
    os.close(os.open(folder / f"{ident}.lock", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW, 0o600))
    assert (folder / ident).resolve().parent == folder.resolve()  # not '.', '..' nor a path


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dag_id=IDS, task_id=IDS)
def test_any_id_is_a_safe_file_name_or_refused_with_file_and_line(dag_id, task_id):
    spec = {"tasks": {task_id: {"command": "echo hi", "_line": 8}}, "_line": 7}  # as a Python file's spec
    try:
        dag = build_dag(dag_id, spec, file="dags/x.py")
    except DagError as err:
        text = str(err)
        assert text.startswith(("dags/x.py:7: ", "dags/x.py:8: ")) and "\n" not in text and err.hint
        return
    with tempfile.TemporaryDirectory() as scratch:
        usable(dag.dag_id, Path(scratch))
        usable(task_id, Path(scratch) / dag.dag_id)


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = (f"\\u{ord(c):04x}" if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    return '"' + "".join(escaped) + '"'


TOML = '[dags.{key}.tasks.ok]\ncommand = "echo"\n\n[dags.t_ok.tasks.{key}]\ncommand = "echo"\n'
PYTHON = (
    "from minorch import DAG, shell\n\n"
    "with DAG({ident!r}):\n    shell('ok', 'echo')\n\n"
    "with DAG('p_ok'):\n    shell({ident!r}, 'echo')\n"
)


@settings(max_examples=30, deadline=None)
@given(ident=IDS, suffix=st.sampled_from(["toml", "py"]))
@example(ident="]", suffix="toml")  # a "]" in a quoted header key once hid the key's line
@example(ident="\x85", suffix="toml")  # so did a character Python, not TOML, takes for a line break
def test_the_loader_refuses_a_bad_id_in_toml_and_python_files_with_file_and_line(ident, suffix):
    try:
        build_dag(ident, {"tasks": {ident: {"command": "echo"}}}, file=None)
        bad = False
    except DagError:
        bad = True
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "dags").mkdir()
        (root / "minorch.toml").write_text('[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\n')
        text = TOML.format(key=toml_string(ident)) if suffix == "toml" else PYTHON.format(ident=ident)
        (root / "dags" / f"ids.{suffix}").write_text(text)
        registry = load(load_settings(root / "minorch.toml"))
    if not bad:
        assert not registry.errors, [str(e) for e in registry.errors]
        assert {ident, f"{suffix[0]}_ok"} == set(registry.dags)
        return
    lines = {"toml": [1, 4], "py": [3, 7]}[suffix]
    assert sorted((Path(e.file).name, e.line) for e in registry.errors) == [(f"ids.{suffix}", n) for n in lines], [
        str(e) for e in registry.errors
    ]
    assert all("\n" not in str(e) and e.hint for e in registry.errors)


def test_validate_names_both_faults_with_file_line_and_a_fix(project):
    project.write(
        "dags/ids.toml",
        f'[dags."-nightly".tasks.a]\ncommand = "echo"\n\n[dags.ok.tasks.{"t" * 256}]\ncommand = "echo"\n',
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert (
        "dags/ids.toml:1: DAG id '-nightly' starts with '-', which commands would read as an option "
        "(rename it, e.g. 'nightly')" in done.stderr
    )
    assert (
        f"dags/ids.toml:4: task id {'t' * 40!r}... is 256 bytes long; ids name files, so at most 250 bytes"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
