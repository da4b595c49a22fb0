"""Loading every DAG file: TOML and Python (imported in a child process), one bad file never hides the rest."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from minorch import registry
from minorch.config import load_settings

GOOD_PY = """from minorch import DAG, shell, task

with DAG("{dag_id}", schedule="@daily"):
    @task
    def extract():
        return 1

    shell("report", "echo done") << extract()
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with minorch.toml and an empty dags/; returns a writer for files in it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\ndag_file_timeout = "300ms"\n')

    def write(name: str, text: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
        return path

    return write


def load(tmp_path: Path) -> registry.Registry:
    return registry.load(load_settings(tmp_path / "minorch.toml"))


def errors_of(reg: registry.Registry) -> list[str]:
    return sorted(str(e) for e in reg.errors)


def test_dags_come_from_minorch_toml_toml_files_and_python_files_in_subfolders(project, tmp_path):
    project("minorch.toml", '[minorch]\n\n[dags.inline.tasks.a]\ncommand = "true"\n')
    project("dags/ops.toml", '[dags.ops]\nschedule = "@hourly"\n[dags.ops.tasks.a]\ncommand = "true"\n')
    project("dags/etl/pipeline.py", GOOD_PY.format(dag_id="pipeline"))
    reg = load(tmp_path)
    assert reg.errors == [] and sorted(reg.dags) == ["inline", "ops", "pipeline"]
    pipeline = reg.dags["pipeline"]
    assert (pipeline.file, pipeline.line) == ("dags/etl/pipeline.py", 3)
    assert pipeline.source_path == str(tmp_path / "dags" / "etl" / "pipeline.py")
    assert pipeline.topological() == ["extract", "report"] and reg.dags["ops"].line == 1
    assert set(reg.files) == {
        tmp_path / "minorch.toml",
        tmp_path / "dags" / "ops.toml",
        tmp_path / "dags" / "etl" / "pipeline.py",
    }


def test_files_and_folders_starting_with_underscore_or_dot_are_skipped_but_importable(project, tmp_path):
    project("dags/_common.py", "assert __name__ == '_common', 'loaded as a DAG file'\nSCHEDULE = '@weekly'\n")
    project(
        "dags/uses_helper.py",
        "from _common import SCHEDULE\nfrom minorch import DAG, shell\n"
        "with DAG('helped', schedule=SCHEDULE):\n    shell('a', 'true')\n",
    )
    project("dags/.venv/lib/site.py", "1/0\n")
    project("dags/_drafts/draft.toml", "not toml at all")
    project("dags/.hidden.toml", "not toml at all")
    reg = load(tmp_path)
    assert reg.errors == [] and list(reg.dags) == ["helped"]
    assert reg.dags["helped"].schedule.expr == "@weekly"


def test_every_bad_file_is_reported_with_file_and_line_while_the_good_ones_load(project, tmp_path):
    project("dags/good.toml", '[dags.good.tasks.a]\ncommand = "true"\n')
    project("dags/good.py", GOOD_PY.format(dag_id="good_py"))
    project("dags/syntax.toml", '[dags.s]\nschedule = "@daily\n')
    project("dags/syntax.py", "from minorch import DAG\n\nwith DAG('x')\n    pass\n")
    project("dags/raises.py", "import os\n\nos.environ['X'] = str(1 / 0)\n")
    project("dags/exits.py", "import sys\nsys.exit(3)\n")
    project("dags/settings.toml", "[minorch]\nparallelism = 2\n")
    reg = load(tmp_path)
    assert sorted(reg.dags) == ["good", "good_py"]
    assert errors_of(reg) == [
        "dags/exits.py:2: called sys.exit(3) while loading",
        "dags/raises.py:3: ZeroDivisionError: division by zero (fix the error shown, then run `minorch validate`)",
        "dags/settings.toml:1: unknown table [minorch] in a DAG file "
        "(DAG files hold [dags.<id>] tables; settings belong in minorch.toml)",
        "dags/syntax.py:3: SyntaxError: expected ':' (fix the error shown, then run `minorch validate`)",
        "dags/syntax.toml:2: TOML syntax error: a string is not closed before the end of the line "
        '(end it with the same quote it starts with: "...")',
    ]


def test_a_python_file_that_hangs_is_stopped_at_the_line_it_was_running(project, tmp_path):
    project("dags/hangs.py", "import time\n\nwhile True: time.sleep(0.01)\n")
    project("dags/later.py", GOOD_PY.format(dag_id="later"))
    reg = load(tmp_path)
    assert errors_of(reg) == [
        "dags/hangs.py:3: did not finish loading within 0.3s "
        "(a DAG file must only define DAGs; move slow work into tasks)"
    ]
    assert list(reg.dags) == ["later"]


def test_a_file_that_ignores_the_alarm_gets_the_loader_killed_and_the_next_files_still_load(project, tmp_path):
    project("dags/a_blocks.py", "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n")
    project("dags/b_dies.py", "import os\nos._exit(7)\n")
    project("dags/c_fine.py", GOOD_PY.format(dag_id="fine"))
    reg = load(tmp_path)
    assert [e.message for e in reg.errors] == [
        "did not finish loading within 0.3s",
        "the loader died (exit 7) while importing this file",
    ]
    assert list(reg.dags) == ["fine"]


def test_output_of_a_dag_file_does_not_disturb_the_loader(project, tmp_path):
    project(
        "dags/noisy.py",
        "import os\nprint('{not json')\nos.write(1, b'raw\\n')\nos.system('echo child')\n"
        + GOOD_PY.format(dag_id="noisy"),
    )
    reg = load(tmp_path)
    assert reg.errors == [] and list(reg.dags) == ["noisy"]


def test_loading_python_files_leaves_no_bytecode_in_the_dag_folder(project, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    project("dags/_helper.py", "X = 1\n")
    project("dags/flow.py", "import _helper\n" + GOOD_PY.format(dag_id="flow"))
    assert list(load(tmp_path).dags) == ["flow"]
    assert sorted(p.name for p in (tmp_path / "dags").iterdir()) == ["_helper.py", "flow.py"]


def test_the_same_dag_id_in_two_files_is_reported_at_the_second_naming_the_first(project, tmp_path):
    project("dags/a.toml", '# first\n[dags.etl.tasks.a]\ncommand = "true"\n')
    project("dags/b.py", GOOD_PY.format(dag_id="etl"))
    reg = load(tmp_path)
    assert errors_of(reg) == [
        "dags/b.py:3: DAG id 'etl' is already defined in dags/a.toml:2 "
        "(rename one of them; DAG ids are unique across all files)"
    ]
    assert reg.dags["etl"].file == "dags/a.toml"


def test_of_two_files_with_one_dag_id_the_newer_file_is_blamed_and_the_older_one_kept(project, tmp_path):
    import os

    old = project("dags/z_existing.toml", '[dags.etl.tasks.a]\ncommand = "true"\n')
    os.utime(old, (1_700_000_000, 1_700_000_000))
    project("dags/a_copy.toml", '[dags.etl.tasks.b]\ncommand = "true"\n')
    reg = load(tmp_path)
    assert errors_of(reg) == [
        "dags/a_copy.toml:1: DAG id 'etl' is already defined in dags/z_existing.toml:1 "
        "(rename one of them; DAG ids are unique across all files)"
    ]
    assert list(reg.dags["etl"].tasks) == ["a"]


def test_two_dags_with_one_id_in_one_python_file_are_an_error(project, tmp_path):
    project("dags/twice.py", GOOD_PY.format(dag_id="x") + "\nwith DAG('x'):\n    shell('b', 'true')\n")
    assert errors_of(load(tmp_path)) == [
        "dags/twice.py:10: DAG id 'x' is defined twice in this file (give each DAG a unique id)"
    ]


def test_python_dag_option_errors_point_at_the_task_call(project, tmp_path):
    project(
        "dags/opts.py",
        "from minorch import DAG, shell\n\nwith DAG('opts'):\n"
        "    shell('a', 'true')\n    shell('b', 'true', retries=-1)\n",
    )
    assert errors_of(load(tmp_path)) == ["dags/opts.py:5: retries must be 0 or more, not -1 (write e.g. retries = 2)"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        (
            '[dags.d]\nschedule = "@daily"\n\n[dags.d.tasks.a]\ncommand = "true"\nafter = ["a"]\n',
            "dags/d.toml:6: task 'a' depends on itself (remove it from its own `after` list)",
        ),
        (
            '[dags.d.tasks.a]\ncommand = "true"\n[dags.d.tasks.b]\ncommand = "true"\nafter = ["aa"]\n',
            "dags/d.toml:5: task 'b' depends on 'aa', which does not exist (did you mean 'a'?)",
        ),
        (
            '[dags.d]\nschedule = "@daily"\n[dags.d.tasks.a]\ncommand = "true"\npool = "db"\n',
            "dags/d.toml:5: task 'a' uses pool 'db', which is not defined "
            "(add it under [minorch.pools] in minorch.toml, e.g. db = 2)",
        ),
        (
            '[dags.d]\ncatchup = "yes"\n[dags.d.tasks.a]\ncommand = "true"\n',
            "dags/d.toml:2: catchup must be true, false or \"latest\", not 'yes' "
            '(true creates every missed run, false none, "latest" only the most recent)',
        ),
        (
            '[dags.d.tasks.a]\ncommand = "true"\n\ntrigger_rule = "all_sucess"\n',
            "dags/d.toml:4: trigger_rule 'all_sucess' is unknown (did you mean 'all_success'?)",
        ),
        (
            '[dags.d]\n[dags.d.tasks]\na = { command = "true", retires = 1 }\n',
            "dags/d.toml:3: unknown task option 'retires' (did you mean 'retries'?)",
        ),
        ('[dags.d]\n[dags.d.tasks.a]\ncommand = "echo {{ ds }"\n', None),
    ],
)
def test_toml_dag_errors_point_at_the_line_of_the_key(project, tmp_path, toml, expected):
    project("dags/d.toml", toml)
    project("dags/ok.toml", '[dags.ok.tasks.a]\ncommand = "true"\n')
    reg = load(tmp_path)
    assert errors_of(reg) == ([expected] if expected else [])
    assert "ok" in reg.dags


def test_a_missing_dag_folder_loads_no_files_and_no_errors(project, tmp_path):
    project("minorch.toml", '[minorch]\ndag_folders = ["nowhere"]\n')
    reg = load(tmp_path)
    assert (reg.dags, reg.errors) == ({}, [])


def test_loading_writes_nothing_but_reads_the_files(project, tmp_path):
    project("dags/a.toml", '[dags.a.tasks.a]\ncommand = "true"\n')
    project("dags/b.py", GOOD_PY.format(dag_id="b"))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    load(tmp_path)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def doc_blocks(language: str) -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "toml-reference.md").read_text()
    return [block.split("\n", 1)[1] for block in text.split("```")[1::2] if block.startswith(language + "\n")]


def test_the_examples_in_the_toml_reference_load_without_errors(project, tmp_path):
    settings = [b for b in doc_blocks("toml") if not b.startswith("[dags")]
    dag_blocks = [b for b in doc_blocks("toml") if b.startswith("[dags")]
    assert (
        len(settings) == 6 and len(dag_blocks) == 3
    )  # [minorch], [variables], [defaults], [notifiers], [assets], [executor.dask]
    project("minorch.toml", "\n".join(settings).replace('dag_folders = ["dags", "vendor/dags"]', ""))
    for number, block in enumerate(dag_blocks):
        project(f"dags/example_{number}.toml", block)
    reg = load(tmp_path)
    assert errors_of(reg) == [] and sorted(reg.dags) == ["etl", "nightly_cleanup", "warehouse"]
    assert reg.assets["customers_raw"]["fresh_within"] == 26 * 3600
    for number in range(len(dag_blocks)):
        (tmp_path / "dags" / f"example_{number}.toml").unlink()
    project("dags/example.py", doc_blocks("python")[0])
    reg = load(tmp_path)
    assert errors_of(reg) == [] and reg.dags["etl"].topological() == ["extract", "load", "report"]


HELPER_PY = """from _names import NAME
from minorch import DAG, shell

with DAG(NAME):
    shell("hello", "true")
"""


def count_imports(monkeypatch) -> list[list[str]]:
    """The names of the Python DAG files each loader run imports, appended as they run."""
    imported: list[list[str]] = []
    real = registry.import_python

    def counting(paths, timeout):
        imported.append(sorted(Path(p).name for p in paths))
        return real(paths, timeout)

    monkeypatch.setattr(registry, "import_python", counting)
    return imported


def test_a_listing_imports_only_python_files_that_changed_or_whose_own_modules_changed(project, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project("dags/a.py", GOOD_PY.format(dag_id="a"))
    project("dags/b.py", HELPER_PY)
    project("dags/_names.py", "NAME = 'first'\n")
    project("dags/broken.py", "x = (\n")
    imported = count_imports(monkeypatch)
    settings = load_settings(tmp_path / "minorch.toml")

    def listed() -> tuple[list, list]:
        got = registry.load(settings, cached=True)
        return sorted((d.dag_id, len(d.tasks), d.file) for d in got.dags.values()), [str(e) for e in got.errors]

    first = listed()
    assert first[0] == [("a", 2, "dags/a.py"), ("first", 1, "dags/b.py")] and "broken.py:1" in first[1][0]
    assert imported == [["a.py", "b.py", "broken.py"]]
    assert listed() == first  # nothing changed: no loader at all
    assert imported == [["a.py", "b.py", "broken.py"]]

    project("dags/a.py", GOOD_PY.format(dag_id="a2"))  # a DAG file changes: only it is imported
    assert listed()[0] == [("a2", 2, "dags/a.py"), ("first", 1, "dags/b.py")]
    assert imported[-1] == ["a.py"]

    project("dags/_names.py", "NAME = 'second'\n")  # a helper changes: files that may import it are
    assert listed()[0] == [("a2", 2, "dags/a.py"), ("second", 1, "dags/b.py")]
    assert "b.py" in imported[-1]

    (tmp_path / "dags" / "a.py").unlink()
    assert listed()[0] == [("second", 1, "dags/b.py")]
    assert registry.load(settings, cached=False).dags.keys() == {"second"}  # what a full load says too


def test_a_listing_after_minorch_itself_changed_imports_every_python_file_again(project, tmp_path, monkeypatch):
    """An upgrade (or an edit in a checkout) may load an unchanged DAG file differently."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project("dags/a.py", GOOD_PY.format(dag_id="a"))
    imported = count_imports(monkeypatch)
    settings = load_settings(tmp_path / "minorch.toml")
    registry.load(settings, cached=True)
    registry.load(settings, cached=True)
    assert imported == [["a.py"]]
    package = tmp_path / "minorch_copy"  # the stamp follows minorch's modules: an edit changes it
    shutil.copytree(Path(registry.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = registry.code_stamp(package)
    (package / "dag.py").write_text((package / "dag.py").read_text() + "\n")
    assert registry.code_stamp(package) != before
    stamp = registry.code_stamp()
    monkeypatch.setattr(registry, "code_stamp", lambda: stamp + 1)  # as after an upgrade
    assert set(registry.load(settings, cached=True).dags) == {"a"}
    assert imported == [["a.py"], ["a.py"]]


def test_a_cache_that_cannot_be_read_or_written_is_ignored(project, tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project("dags/a.py", GOOD_PY.format(dag_id="a"))
    settings = load_settings(tmp_path / "minorch.toml")
    assert set(registry.load(settings, cached=True).dags) == {"a"}
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache2"))
    registry.load(settings, cached=True)
    cache = next((tmp_path / "cache2" / "minorch").iterdir())
    cache.write_text("{broken")
    assert set(registry.load(settings, cached=True).dags) == {"a"}
