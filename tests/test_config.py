"""minorch.toml: finding it, reading it into Settings, TOML errors and key line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomli

from minorch.config import find_config, load_settings, read_toml, toml_locator
from minorch.errors import ConfigError


def write(folder: Path, text: str, name: str = "minorch.toml") -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def config_error(folder: Path, text: str) -> ConfigError:
    write(folder, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(folder / "minorch.toml")
    return caught.value


# ---------------------------------------------------------------- finding the file


def test_an_explicit_path_wins_over_the_environment(tmp_path, monkeypatch):
    chosen, other = write(tmp_path / "a", "[minorch]\n"), write(tmp_path / "b", "[minorch]\n")
    monkeypatch.setenv("MINORCH_CONFIG", str(other))
    assert find_config(chosen) == chosen.resolve()
    assert find_config(None, cwd=tmp_path) == other.resolve()


def test_without_a_path_the_nearest_minorch_toml_upwards_is_used(tmp_path, monkeypatch):
    monkeypatch.delenv("MINORCH_CONFIG", raising=False)
    top = write(tmp_path, "[minorch]\n")
    deep = tmp_path / "project" / "dags" / "sub"
    deep.mkdir(parents=True)
    assert find_config(None, cwd=deep) == top.resolve()
    nearer = write(tmp_path / "project", "[minorch]\n")
    assert find_config(None, cwd=deep) == nearer.resolve()


def test_no_minorch_toml_anywhere_suggests_minorch_init(tmp_path, monkeypatch):
    monkeypatch.delenv("MINORCH_CONFIG", raising=False)
    with pytest.raises(ConfigError) as caught:
        find_config(None, cwd=Path("/"))
    assert caught.value.message == "no minorch.toml in / or its parents"
    assert "minorch init" in caught.value.hint


def test_a_missing_explicit_file_and_a_wrong_environment_variable_are_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such file"):
        find_config(tmp_path / "nope.toml")
    monkeypatch.setenv("MINORCH_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as caught:
        find_config(None, cwd=tmp_path)
    assert caught.value.hint == "fix or unset MINORCH_CONFIG"


# ---------------------------------------------------------------- Settings


def test_settings_read_every_minorch_option_with_paths_beside_the_file(tmp_path):
    write(
        tmp_path,
        """
[minorch]
state_dir = "state"
dag_folders = ["dags", "more/dags"]
timezone = "Europe/Berlin"
parallelism = 3
pools = { db = 2 }
log_cap = 4096
grace = "10s"
dag_file_timeout = "1m"

[defaults]
retries = 2
retry_delay = "30s"

[notifiers.ops]
webhook = "https://example.com/hook"
timeout = "5s"

[dags.hello.tasks.a]
command = "true"
""",
    )
    settings = load_settings(tmp_path / "minorch.toml")
    assert settings.state_dir == tmp_path / "state" and settings.db_path == tmp_path / "state" / "minorch.db"
    assert settings.dag_folders == [tmp_path / "dags", tmp_path / "more" / "dags"]
    assert (settings.timezone, settings.parallelism, settings.pools) == ("Europe/Berlin", 3, {"db": 2})
    assert (settings.log_cap, settings.grace, settings.dag_file_timeout) == (4096, 10.0, 60.0)
    assert settings.defaults == {"retries": 2, "retry_delay": "30s"}
    assert settings.notifiers == {"ops": {"webhook": "https://example.com/hook", "timeout": "5s"}}
    assert settings.dags == {"hello": {"tasks": {"a": {"command": "true"}}}}


def test_an_almost_empty_file_gives_the_documented_defaults(tmp_path):
    settings = load_settings(write(tmp_path, "[minorch]\n"))
    assert settings.state_dir == tmp_path / ".minorch" and settings.dag_folders == [tmp_path / "dags"]
    assert (settings.timezone, settings.parallelism, settings.grace, settings.dag_file_timeout) == ("UTC", 8, 5.0, 30.0)


def test_a_single_dag_folder_may_be_a_string(tmp_path):
    assert load_settings(write(tmp_path, '[minorch]\ndag_folders = "flows"\n')).dag_folders == [tmp_path / "flows"]


def test_an_empty_minorch_toml_says_what_to_add(tmp_path):
    err = config_error(tmp_path, "\n")
    assert str(err).endswith(
        "minorch.toml:1: the file is empty (add a [minorch] table and DAGs; `minorch init` writes a starter file)"
    )


@pytest.mark.parametrize(
    ("text", "line", "message", "hint"),
    [
        ("[minorch]\n[defualts]\nretries = 1\n", 2, "unknown table [defualts]", "did you mean 'defaults'?"),
        ("[minorch]\nparalelism = 3\n", 2, "unknown [minorch] option 'paralelism'", "did you mean 'parallelism'?"),
        ("[minorch]\nretries = 3\n", 2, "unknown [minorch] option 'retries'", "task options belong under [defaults]"),
        (
            '[minorch]\n\ntimezone = "Europe/Berln"\n',
            3,
            "unknown timezone 'Europe/Berln'",
            "did you mean 'Europe/Berlin'?",
        ),
        (
            "[minorch]\nparallelism = 0\n",
            2,
            "parallelism must be a whole number from 1 to 100000, not 0",
            "write e.g. parallelism = 8",
        ),
        (
            "[minorch]\npools = { db = 0 }\n",
            2,
            "pools must map names to slot counts from 1 to 100000",
            "write e.g. pools = { db = 2 }",
        ),
        (
            "[minorch]\ndag_folders = [1]\n",
            2,
            "dag_folders must be a list of folder names, not [1]",
            'write e.g. dag_folders = ["dags"]',
        ),
        (
            '[minorch]\nstate_dir = "s"\ngrace = "soon"\n',
            3,
            "grace 'soon' is not a duration",
            'write e.g. "45s", "5m", "1h30m" or "2d"',
        ),
        (
            '[defaults]\nretries = 1\nretry_dealy = "5m"\n',
            3,
            "unknown [defaults] option 'retry_dealy'",
            "did you mean 'retry_delay'?",
        ),
        (
            '[defaults]\nretries = 1\ntimeout = "forever"\n',
            3,
            "timeout 'forever' is not a duration",
            'write e.g. "45s", "5m", "1h30m" or "2d"',
        ),
        (
            '[notifiers.ops]\ncommand = "x"\nwebhok = "y"\n',
            3,
            "notifier 'ops': unknown key 'webhok'",
            "did you mean 'webhook'?",
        ),
    ],
)
def test_bad_settings_name_the_line_and_the_fix(tmp_path, text, line, message, hint):
    err = config_error(tmp_path, text)
    assert (err.line, err.message, err.hint) == (line, message, hint)
    assert err.file.endswith("minorch.toml")


def test_a_notifier_needs_exactly_one_way_to_notify(tmp_path):
    err = config_error(tmp_path, '[notifiers.ops]\ncommand = "a"\nmail = "ops@example.com"\n')
    assert err.message == "notifier 'ops': needs exactly one of command, webhook or mail, as a string"
    assert err.line == 1


def test_a_bad_trigger_rule_in_defaults_is_a_config_error_at_its_line(tmp_path):
    err = config_error(tmp_path, '[defaults]\nretries = 1\ntrigger_rule = "al_done"\n')
    assert (err.line, err.hint, err.exit_code) == (3, "did you mean 'all_done'?", 2)


# ---------------------------------------------------------------- TOML reading


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('[dags.a]\nschedule = "@daily\n', 2, "TOML syntax error: a string is not closed before the end of the line"),
        ("[dags.a]\nschedule = @daily\n", 2, "TOML syntax error: a value is missing or not valid TOML"),
        ("[dags.a]\nretries = 1\nretries = 2\n", 3, "TOML syntax error: a key is set twice"),
        ("[dags.a]\nx = 1\n[dags.a]\n", 3, "TOML syntax error: table [dags.a] is declared twice"),
        ("[dags.a]\nafter = [1,\n", 2, "TOML syntax error: a value is missing or not valid TOML"),
    ],
)
def test_toml_syntax_errors_become_one_line_with_file_line_and_a_hint(tmp_path, text, line, message):
    path = write(tmp_path, text, "dags/a.toml")
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert (caught.value.line, caught.value.message) == (line, message)
    assert caught.value.hint and "\n" not in str(caught.value)


def test_toml_1_1_syntax_is_read_on_every_python(tmp_path):
    r"""Newlines and a trailing comma inside an inline table, \e and times without seconds."""
    path = write(tmp_path, '[dags.a]\nenv = {\n  A = "1",\n  B = "\\e",\n}\nat = 07:30\n', "dags/a.toml")
    data, _ = read_toml(path)
    assert data["dags"]["a"]["env"] == {"A": "1", "B": "\x1b"}
    assert str(data["dags"]["a"]["at"]) == "07:30:00"


def test_a_file_that_is_not_utf8_names_the_line_and_the_byte(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b'[dags.a]\n\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert (caught.value.line, caught.value.message, caught.value.hint) == (
        3,
        "not UTF-8 text (byte 0xe9)",
        "save the file as UTF-8",
    )


TOML = '''# a comment
[minorch]
timezone = "UTC"

[dags.etl]
schedule = "@daily"
tasks.extract.command = "echo"

[dags.etl.tasks.load]
command = """
[not.a.table]
after = "not a key"
"""
after = ["extract"]
"quoted.key" = 1

[dags.etl.tasks.report]
command = "echo"
env = { A = "1", B = "2" }
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("minorch", "timezone"), 3),
        (("dags", "etl"), 5),
        (("dags", "etl", "schedule"), 6),
        (("dags", "etl", "tasks", "extract"), 7),
        (("dags", "etl", "tasks", "extract", "command"), 7),
        (("dags", "etl", "tasks", "load"), 9),
        (("dags", "etl", "tasks", "load", "after"), 14),
        (("dags", "etl", "tasks", "load", "quoted.key"), 15),
        (("dags", "etl", "tasks", "report", "env", "B"), 19),
        (("dags", "etl", "tasks", "report", "retries"), 17),
        (("not", "a", "table"), None),
    ],
)
def test_the_locator_finds_the_line_of_keys_in_nested_tables(path, line):
    assert toml_locator(TOML)(path) == line


QUOTED = r"""
[dags."]".tasks.ok]
command = "echo"

[dags . 'a b' . tasks."say \u0022hi\u0022 ]#"]  # a comment
command = "echo"
env . "x.y" = "1"
"""


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("dags", "]", "tasks", "ok"), 2),
        (("dags", "]", "tasks", "ok", "command"), 3),
        (("dags", "a b", "tasks", 'say "hi" ]#'), 5),
        (("dags", "a b", "tasks", 'say "hi" ]#', "env", "x.y"), 7),
    ],
)
def test_the_locator_reads_quoted_keys_as_toml_does(path, line):
    """Quoted parts may hold "]", "#", dots and escapes; spaces may stand around the dots."""
    data = tomli.loads(QUOTED)
    node = data
    for part in path:
        node = node[part]  # the path is what the TOML parser reads
    assert toml_locator(QUOTED)(path) == line
