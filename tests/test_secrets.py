"""Variables, connections and secrets: backends, masking in every output, environments, task environments.

Real processes throughout: `python -m minorch` in a project folder, real tries, the real
state file read with the sqlite3 shell. The keyring is the test backend of
tests/keyring_backend.py, selected through keyring's own PYTHON_KEYRING_BACKEND switch.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import child_env, minorch_command, run_all
from hypothesis import given, settings
from hypothesis import strategies as st

from minorch.config import display_path, load_settings
from minorch.errors import ConfigError
from minorch.executors.local import Launch, LocalExecutor
from minorch.masking import Masker, looks_sensitive
from minorch.secrets import Catalog, Resolver, SecretError

# One secret per backend, each long enough to be masked and unlikely to appear by chance.
FROM_ENV = "env-Secret-4711"
FROM_FILE = "file-Secret-0815"
FROM_CMD = "cmd-Secret-1234"
FROM_KEYRING = "keyring-Secret-9999"
# The test keyring (tests/keyring_backend.py), found through tests/ on the path: pytest puts it on
# sys.path for this process, secret_env on PYTHONPATH for children, wherever the suite runs from.
TESTS = str(Path(__file__).resolve().parent)
BACKEND = "keyring_backend.FileKeyring"
DB_PASSWORD = "db-p@ss:w0rd/77"  # characters a URI must percent-encode
SECRETS = [FROM_ENV, FROM_FILE, FROM_CMD, FROM_KEYRING, DB_PASSWORD]

PROJECT_TOML = """\
[minorch]
state_dir = ".minorch"
dag_folders = ["dags"]
grace = "0.5s"

[defaults]
retry_delay = "0s"

[notifiers.record]
command = "cat >> {notified}"

[variables]
bucket = "my-data-bucket"
limits = {{ value = {{ rows = 10, table = "orders" }} }}
from_env = {{ env = "APP_TOKEN" }}
from_file = {{ file = "secret.txt" }}
from_cmd = {{ cmd = "printf '%s' cmd-Secret-; echo 1234" }}
from_keyring = {{ keyring = "minorch-test/api" }}

[connections.warehouse]
uri = "postgresql://bob@db.example:5432/sales?sslmode=require"
password_env = "DB_PASSWORD"
"""

SHELL_DAG = """\
[dags.leak]
on_failure = ["record"]
on_success = ["record"]

[dags.leak.tasks.templated]
command = '''
echo "bucket={{ var.value.bucket }} rows={{ var.json.limits.rows }} host={{ conn.warehouse.host }}"
echo "all: {{ var.value.from_env }} {{ var.value.from_file }} {{ var.value.from_cmd }} {{ var.value.from_keyring }}"
echo "pw: {{ conn.warehouse.password }} uri: {{ conn.warehouse.uri }}"
'''

[dags.leak.tasks.pieces]
command = '''
printf 'env-Sec'; sleep 0.2; printf 'ret-4711\\n'
printf '%s' "$APP_TOKEN" | base64
echo "$DB_PASSWORD" >&2
echo fail now; exit 3
'''
retries = 0

[dags.leak.tasks.python]
python = "tasks:show"
"""

TASKS_PY = """\
import subprocess, sys, time
from minorch import Connection, Variable


def show():
    token = Variable.get("from_keyring")
    conn = Connection.get("warehouse")
    limits = Variable.get("limits", deserialize_json=True)
    print("limits", limits["table"], "host", conn.host, "missing", Variable.get("nope", default="dflt"))
    for piece in (token[:4], token[4:11], token[11:]):  # one secret in three writes
        sys.stdout.write(piece)
        sys.stdout.flush()
        time.sleep(0.05)
    print()
    print("password", conn.password, "uri", conn.uri, flush=True)
    subprocess.run(["echo", "child sees " + Variable.get("from_file")], check=True)
"""


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    return tmp_path / "keyring.json"  # outside the project: the test backend's storage


@pytest.fixture
def secret_project(project, keyring_file: Path):
    root = project.root
    notified = root.parent / "notified.jsonl"
    (root / "minorch.toml").write_text(PROJECT_TOML.format(notified=notified))
    (root / "secret.txt").write_text(FROM_FILE + "\n")
    project.write("dags/leak.toml", SHELL_DAG)
    project.write("tasks.py", TASKS_PY)
    keyring_file.write_text(json.dumps({"minorch-test\napi": FROM_KEYRING}))
    project.notified = notified
    return project


def secret_env(project, keyring_file: Path) -> dict[str, str]:
    env = project.env()
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], TESTS])  # where the test backend's module is
    env.update(
        APP_TOKEN=FROM_ENV,
        DB_PASSWORD=DB_PASSWORD,
        PYTHON_KEYRING_BACKEND=BACKEND,
        MINORCH_TEST_KEYRING=str(keyring_file),
    )
    return env


def minorch(project, env: dict, *args: str) -> subprocess.CompletedProcess:
    return minorch_command(list(args), cwd=project.root, env=env)


def leaks(text: str) -> list[str]:
    """The secrets (or their percent-encoded forms) found in `text`."""
    return [s for s in SECRETS if s in text or quote(s, safe="") in text]


# ---------------------------------------------------------------- masking, end to end


def test_no_secret_in_any_output_or_file(secret_project, keyring_file: Path, tmp_path: Path) -> None:
    env = secret_env(secret_project, keyring_file)
    junit = tmp_path / "junit.xml"
    run = minorch(secret_project, env, "run", "leak", "--date", "2024-01-15", "--json", "--junit", str(junit))
    assert run.returncode == 1, run.stderr  # `pieces` fails on purpose (exit 3)
    report = json.loads(run.stdout)
    assert {t["task_id"]: t["state"] for t in report["tasks"]} == {
        "templated": "success",
        "pieces": "failed",
        "python": "success",
    }
    logs = {path.parent.name: path.read_text() for path in (secret_project.root / ".minorch/logs").rglob("*.log")}
    # What the tasks printed arrived, masked.
    assert "bucket=my-data-bucket rows=10 host=db.example" in logs["templated"]
    assert "all: *** *** *** ***" in logs["templated"]
    assert "pw: *** uri: 'postgresql://bob:***@db.example:5432/sales?sslmode=require'" in logs["templated"]
    assert "***\n" in logs["pieces"] and "fail now" in logs["pieces"]
    assert base64.b64encode(FROM_ENV.encode()).decode() in logs["pieces"]  # a transformed secret is not masked
    assert "limits orders host db.example missing dflt" in logs["python"]
    assert "***\npassword *** uri postgresql://bob:***@db.example" in logs["python"]
    assert "child sees ***" in logs["python"]

    outputs = [run.stdout, run.stderr, junit.read_text()]
    for args in (
        ["tasks", "leak", "latest"],
        ["tasks", "leak", "latest", "--json"],
        ["runs", "leak", "--json"],
        ["logs", "leak", "latest", "templated"],
        ["logs", "leak", "latest", "pieces"],
        ["logs", "leak", "latest", "python"],
        ["var", "list"],
        ["var", "list", "--json"],
        ["var", "get", "from_cmd"],
        ["conn", "list"],
        ["conn", "get", "warehouse", "--json"],
    ):
        done = minorch(secret_project, env, *args)
        assert done.returncode == 0, (args, done.stderr)
        outputs += [done.stdout, done.stderr]
    assert "***" in "".join(outputs)
    assert leaks("\n".join(outputs)) == []
    notified = secret_project.notified.read_text()
    assert '"state": "failed"' in notified and leaks(notified) == []
    for path in (secret_project.root / ".minorch").rglob("*"):
        if path.is_file():
            assert leaks(path.read_bytes().decode(errors="replace")) == [], path
    if shutil.which("sqlite3"):
        dump = subprocess.run(
            ["sqlite3", str(secret_project.root / ".minorch/minorch.db"), ".dump"], capture_output=True, text=True
        ).stdout
        assert "INSERT INTO attempts" in dump and leaks(dump) == []
    # Asked for explicitly, a secret is shown.
    assert minorch(secret_project, env, "var", "get", "from_cmd", "--reveal").stdout.strip() == FROM_CMD


def test_secret_set_from_the_cli_never_reaches_the_state_file(project, keyring_file: Path) -> None:
    env = secret_env(project, keyring_file)
    assert minorch(project, env, "var", "set", "api_token", FROM_CMD).returncode == 0  # a secret by its name
    assert minorch(project, env, "var", "set", "region", "eu-west-1").returncode == 0
    assert minorch(project, env, "var", "set", "plain", "visible-value", "--secret").returncode == 0
    added = minorch(project, env, "conn", "add", "pg", "--uri", f"postgresql://bob:{quote(DB_PASSWORD, safe='')}@h/x")
    assert added.returncode == 0, added.stderr
    listed = minorch(project, env, "var", "list").stdout
    assert re.search(r"region\s+eu-west-1\s+state file", listed)
    assert "visible-value" not in listed and FROM_CMD not in listed
    assert json.loads(keyring_file.read_text())  # the values went to the keyring
    assert minorch(project, env, "var", "get", "api_token", "--reveal").stdout.strip() == FROM_CMD
    assert DB_PASSWORD in minorch(project, env, "conn", "get", "pg", "--reveal").stdout
    dump = subprocess.run(
        ["sqlite3", str(project.root / ".minorch/minorch.db"), ".dump"], capture_output=True, text=True
    ).stdout
    assert "eu-west-1" in dump and "visible-value" not in dump and leaks(dump) == []
    assert minorch(project, env, "var", "delete", "region").returncode == 0
    gone = minorch(project, env, "var", "get", "region")
    assert gone.returncode == 2 and gone.stderr.startswith("minorch: error: unknown variable 'region'")


def test_without_keyring_a_secret_value_is_refused_not_stored(project) -> None:
    env = project.env()
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    done = minorch(project, env, "var", "set", "db_password", FROM_CMD)
    assert done.returncode == 2
    assert "--file, --cmd or --env" in done.stderr and FROM_CMD not in done.stderr
    dump = subprocess.run(["sqlite3", str(project.root / ".minorch/minorch.db"), ".dump"], capture_output=True).stdout
    assert FROM_CMD.encode() not in dump


# ---------------------------------------------------------------- backends and their errors


def resolver(project, environ: dict | None = None) -> Resolver:
    settings = load_settings(project.root / "minorch.toml")
    return Resolver(Catalog.gather(settings, environ=environ or {}), settings.root, environ or {})


def test_each_backend_resolves_and_marks_secrets(secret_project, keyring_file: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
    monkeypatch.setenv("MINORCH_TEST_KEYRING", str(keyring_file))
    found = resolver(secret_project, {"APP_TOKEN": FROM_ENV, "DB_PASSWORD": DB_PASSWORD})
    assert found.variable("bucket") == "my-data-bucket"
    assert found.variable_json("limits") == {"rows": 10, "table": "orders"}
    assert found.secrets == []  # literals with harmless names are not secrets
    assert [found.variable(n) for n in ("from_env", "from_file", "from_cmd", "from_keyring")] == SECRETS[:4]
    warehouse = found.connection("warehouse")
    assert (warehouse.host, warehouse.port, warehouse.login, warehouse.schema) == ("db.example", 5432, "bob", "sales")
    assert warehouse.extra == {"sslmode": "require"} and warehouse.password == DB_PASSWORD
    assert set(SECRETS) <= set(found.secrets)


def test_environment_forms_of_variables_and_connections(project) -> None:
    environ = {
        "MINORCH_VAR_REGION": "eu-central-1",
        "AIRFLOW_CONN_OLD_DB": "mysql://ann:from-airflow-1@old:3306/app",
        "MINORCH_CONN_OLD_DB": "mysql://ann:from-minorch-1@new:3306/app",
        "AIRFLOW_CONN_API": json.dumps({"conn_type": "http", "host": "api.example", "password": "json-Secret-1"}),
    }
    found = resolver(project, environ)
    assert found.variable("region") == "eu-central-1"
    assert found.connection("old_db").host == "new"  # MINORCH_CONN_ wins over AIRFLOW_CONN_
    api = found.connection("api")
    assert (api.conn_type, api.host, api.password) == ("http", "api.example", "json-Secret-1")
    assert {"eu-central-1", "from-minorch-1", "json-Secret-1"} <= set(found.secrets)


@pytest.mark.parametrize("port", ['"http"', '"5432.5x"', "inf", "[5432]"])
def test_a_connection_port_that_is_not_a_number_is_one_line(project, port: str) -> None:
    document = f'{{"conn_type": "http", "host": "api.example", "port": {port.replace("inf", "1e999")}}}'
    with pytest.raises(SecretError, match="connection 'api': port must be a number"):
        resolver(project, {"AIRFLOW_CONN_API": document}).connection("api")


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ('x = { file = "missing.txt" }', "variable 'x': cannot read .*missing.txt: No such file or directory"),
        ('x = { cmd = "echo oops >&2; exit 7" }', "variable 'x': its command exited with code 7: oops"),
        ('x = { env = "NOT_SET_ANYWHERE" }', "variable 'x': environment variable NOT_SET_ANYWHERE is not set"),
        (
            'x = { keyring = "minorch-test/absent" }',
            "variable 'x': the keyring has no password for minorch-test/absent",
        ),
    ],
)
def test_a_backend_that_fails_names_the_variable(project, keyring_file, monkeypatch, definition, message) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", BACKEND)
    monkeypatch.setenv("MINORCH_TEST_KEYRING", str(keyring_file))
    project.configure(defaults=f"[variables]\n{definition}")
    with pytest.raises(SecretError, match=message):
        resolver(project).variable("x")


def test_unknown_variable_suggests_the_closest(project) -> None:
    project.configure(defaults='[variables]\nbucket = "b"')
    with pytest.raises(SecretError, match=r"unknown variable 'buckt' \(did you mean 'bucket'\?\)"):
        resolver(project).variable("buckt")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[variables]\nx = { vault = "a" }', r"minorch.toml:\d+: variable 'x' needs exactly one of .*'vault'"),
        ('[connections.db]\npasword = "a"', r"minorch.toml:\d+: connection 'db': unknown key 'pasword'.*'password'"),
        ('[connections.db]\nuri = "db.example:5432"', r"minorch.toml:\d+: connection 'db': its uri does not parse"),
    ],
)
def test_static_problems_have_file_and_line(project, table: str, message: str) -> None:
    project.configure(defaults=table)
    with pytest.raises(ConfigError, match=message):
        load_settings(project.root / "minorch.toml")
    done = project.minorch("validate")
    assert done.returncode == 2 and re.search(message, done.stderr) and "Traceback" not in done.stderr


def test_a_try_whose_secret_cannot_be_resolved_fails_with_one_line(project) -> None:
    project.configure(defaults='[variables]\ndb_password = { file = "/nonexistent/db" }')
    project.write("dags/d.toml", '[dags.d.tasks.t]\ncommand = "echo {{ var.value.db_password }}"\n')
    result = project.run("d")
    assert result.run.state == "failed"
    log = next((project.root / ".minorch/logs").rglob("*.log")).read_text()
    [line] = log.strip().splitlines()
    assert line == (
        f"minorch: {display_path(project.root / 'dags/d.toml')}: task 't': variable 'db_password': "
        "cannot read /nonexistent/db: No such file or directory"
    )


def test_conn_test_checks_that_the_port_answers(project) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        project.configure(defaults=f'[connections.up]\nuri = "postgresql://u@127.0.0.1:{port}/db"')
        done = project.minorch("conn", "test", "up")
        assert done.returncode == 0 and f"127.0.0.1:{port} answers" in done.stdout
    refused = project.minorch("conn", "test", "up")
    assert refused.returncode == 1 and "does not answer" in refused.stderr


# ---------------------------------------------------------------- the masker and the relay


def test_masker_cases() -> None:
    masker = Masker(["hunter22", "abc-secret", "abc-secret-longer", "a", "p@ss word"])
    assert masker.text("x hunter22 y") == "x *** y"
    assert masker.text("abc-secret-longer and abc-secret") == "*** and ***"
    assert masker.text("a b c") == "a b c"  # too short to mask
    assert masker.text("uri p%40ss%20word@h") == "uri ***@h"  # the percent-encoded form
    stream = Masker(["abc-secret", "abc-secret-longer"])
    assert stream.feed(b"go abc-sec") == b"go "
    assert stream.feed(b"ret") == b""  # abc-secret, but it may yet become abc-secret-longer
    assert stream.feed(b"-lo") == b""
    assert stream.feed(b"nger!") == b"***!"
    assert stream.feed(b"abc-") == b"" and stream.flush() == b"abc-"


@settings(max_examples=200, deadline=None)
@given(
    secret=st.text(alphabet="ab-", min_size=5, max_size=9),
    chunks=st.lists(st.text(alphabet="ab-x\n", max_size=12), max_size=8),
)
def test_masking_a_stream_split_anywhere_equals_masking_it_whole(secret: str, chunks: list[str]) -> None:
    masker = Masker([secret])
    out = b"".join(masker.feed(chunk.encode()) for chunk in chunks) + masker.flush()
    assert out.decode() == "".join(chunks).replace(secret, "***")


def test_sensitive_names() -> None:
    assert all(map(looks_sensitive, ["password", "db_pass", "api_key", "github_token", "client_secret", "key"]))
    assert not any(map(looks_sensitive, ["bucket", "region", "monkey", "keyboard_layout", "passenger_count"]))


def test_relay_masks_split_writes_and_values_the_child_registers(tmp_path: Path) -> None:
    """Both ways a try starts: spawned (`sh`, `python -c`) and forked by the fork server (minorch.runtime)."""
    spec = tmp_path / "spec.json"
    (tmp_path / "task.py").write_text(
        "import sys\nfrom minorch import Variable\n"
        "def main():\n    v = Variable.get('from_cmd')\n    print(v[:3], end='', flush=True)\n    print(v[3:])\n"
    )
    (tmp_path / "minorch.toml").write_text(f'[variables]\nfrom_cmd = {{ cmd = "echo {FROM_CMD}" }}\n')
    from minorch.runtime import write_spec

    context = {"ds": "2024-01-15", "timezone": "UTC", "xcom": {}}
    context.update(dict.fromkeys(("logical_date", "data_interval_start", "data_interval_end"), "2024-01-15T00:00:00"))
    write_spec(
        spec,
        target={"kind": "ref", "ref": "task:main", "sys_path": [str(tmp_path)]},
        context=context,
        result_path=tmp_path / "result.json",
        max_result_bytes=1024,
    )
    env = child_env(MINORCH_CONFIG=str(tmp_path / "minorch.toml"))
    register = f"from minorch.masking import register; register({FROM_FILE!r}); print('x{FROM_FILE}x')"
    launches = {
        "sh": ["sh", "-c", f"printf '{FROM_ENV[:5]}'; sleep 0.1; printf '{FROM_ENV[5:]}\\n'"],
        "py": [sys.executable, "-c", register],
        "forked": [sys.executable, "-m", "minorch.runtime", str(spec)],
    }
    executor = LocalExecutor()
    try:
        for name, argv in launches.items():
            executor.start(Launch(name, argv, env, str(tmp_path), tmp_path / f"{name}.log", None, secrets=(FROM_ENV,)))
        exits = run_all(executor, limit=10)
    finally:
        executor.close()
    assert {name: e.returncode for name, e in exits.items()} == {"sh": 0, "py": 0, "forked": 0}
    assert (tmp_path / "sh.log").read_text() == "***\n"
    assert (tmp_path / "py.log").read_text() == "x***x\n"
    assert (tmp_path / "forked.log").read_text() == "***\n"


# ---------------------------------------------------------------- environments and task environments


def test_env_layer_merges_tables_and_replaces_lists(project) -> None:
    project.configure(minorch='pools = { db = 2, api = 1 }\nenv_passthrough = ["A", "B"]')
    with open(project.root / "minorch.toml", "a") as f:
        f.write('[variables]\nbucket = "dev-bucket"\nregion = "eu"\n')
    project.write(
        "minorch.prod.toml",
        '[minorch]\npools = { db = 8 }\nenv_passthrough = ["C"]\n\n[variables]\nbucket = "prod-bucket"\n',
    )
    project.write("dags/d.toml", '[dags.d.tasks.t]\ncommand = "echo {{ var.value.bucket }}"\n')
    prod = load_settings(project.root / "minorch.toml", env="prod")
    assert prod.pools == {"db": 8, "api": 1} and prod.env_passthrough == ["C"]
    assert prod.variables["bucket"].ref == "prod-bucket" and prod.variables["region"].ref == "eu"
    assert project.minorch("--env", "prod", "var", "get", "bucket").stdout == "prod-bucket\n"
    assert project.minorch("var", "get", "bucket").stdout == "dev-bucket\n"
    env = {**project.env(), "MINORCH_ENV": "prod"}
    shown = subprocess.run([sys.executable, "-m", "minorch", "dags"], cwd=project.root, env=env, capture_output=True)
    assert shown.stdout.decode().startswith("environment: prod (minorch.toml + minorch.prod.toml)")
    run = subprocess.run(
        [sys.executable, "-m", "minorch", "run", "d", "--date", "2024-01-15"], cwd=project.root, env=env
    )
    assert run.returncode == 0
    assert next((project.root / ".minorch/logs").rglob("*.log")).read_text() == "prod-bucket\n"


def test_validate_env_reports_the_layer_file_and_line(project) -> None:
    project.write("minorch.staging.toml", '[minorch]\nparallelism = 4\ntask_env = "cleen"\n')
    done = project.minorch("validate", "--env", "staging")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "minorch: error: minorch.staging.toml:3: task_env must be one of inherit, clean, not 'cleen' "
        "(did you mean 'clean'?)"
    )
    missing = project.minorch("validate", "--env", "prod")
    assert missing.returncode == 2 and "no minorch.prod.toml beside minorch.toml" in missing.stderr
    assert project.minorch("validate").returncode == 0


@pytest.mark.parametrize("task_env", ["clean", "inherit"])
def test_task_environment(project, task_env: str) -> None:
    project.configure(minorch=f'task_env = "{task_env}"\nenv_passthrough = ["AWS_*"]')
    project.write(
        "dags/d.toml",
        '[dags.d.tasks.t]\ncommand = "env | sort"\nenv = { FROM_DAG = "yes" }\n'
        "[dags.d.tasks.p]\n"
        'python = "os:getcwd"\n',
    )
    env = {**project.env(), "LEAKY_TOKEN": "scheduler-only", "AWS_PROFILE": "ops"}
    run = subprocess.run([sys.executable, "-m", "minorch", "run", "d"], cwd=project.root, env=env, capture_output=True)
    assert run.returncode == 0, run.stderr  # the Python task still finds minorch (PYTHON* kept)
    seen = dict(
        line.split("=", 1) for line in next((project.root / ".minorch/logs").rglob("t/1.log")).read_text().splitlines()
    )
    assert seen["FROM_DAG"] == "yes" and seen["AWS_PROFILE"] == "ops" and seen["MINORCH_DAG_ID"] == "d"
    assert seen["MINORCH_CONFIG"] == str(project.root / "minorch.toml")
    if task_env == "clean":
        assert "LEAKY_TOKEN" not in seen
        assert seen["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    else:
        assert seen["LEAKY_TOKEN"] == "scheduler-only"


def test_file_paths_expand_environment_variables(project, tmp_path: Path) -> None:
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "db").write_text(FROM_FILE + "\n")
    project.configure(defaults='[variables]\ndb = { file = "${CREDENTIALS_DIRECTORY}/db" }')
    assert resolver(project, {"CREDENTIALS_DIRECTORY": str(tmp_path / "creds")}).variable("db") == FROM_FILE


def test_layers_are_not_dag_files_and_an_edited_layer_reloads_the_settings(project) -> None:
    from minorch.registry import load as load_registry
    from minorch.scheduler import Scheduler
    from minorch.store import Store

    project.write("minorch.toml", '[minorch]\ndag_folders = ["."]\n')  # the project folder itself holds DAG files
    project.write("minorch.prod.toml", '[variables]\nbucket = "prod-bucket"\n')
    project.write("minorch.staging.toml", "[minorch]\nparallelism = 2\n")
    project.write("d.toml", '[dags.d.tasks.t]\ncommand = "true"\n')
    settings = load_settings(project.root / "minorch.toml", env="prod")
    registry = load_registry(settings)
    assert list(registry.dags) == ["d"] and registry.errors == []
    scheduler = Scheduler(settings, Store(settings.db_path), registry=registry)
    try:
        layer = project.root / "minorch.prod.toml"
        layer.write_text('[variables]\nbucket = "other-bucket"\n')
        os.utime(layer, (layer.stat().st_mtime + 5,) * 2)
        assert scheduler.reload_if_changed()
        assert scheduler.settings.variables["bucket"].ref == "other-bucket"
    finally:
        scheduler.close()


def test_a_secret_passed_through_a_task_env_template_is_masked_and_get_takes_a_default(project) -> None:
    project.configure(defaults=f'[connections.pg]\nuri = "postgresql://bob:{quote(DB_PASSWORD, safe="")}@h:5432/db"')
    project.write(
        "dags/d.toml",
        "[dags.d.tasks.t]\n"
        "command = \"echo pw=$PGPASSWORD {{ var.value.get('missing', 'fallback') }}\"\n"
        'env = { PGPASSWORD = "{{ conn.pg.password }}" }\n',
    )
    result = project.run("d")
    assert result.run.state == "success"
    assert next((project.root / ".minorch/logs").rglob("*.log")).read_text() == "pw=*** fallback\n"


def test_the_parts_every_try_shares_are_made_again_when_a_definition_or_the_settings_change(project) -> None:
    from minorch.taskenv import TryEnvironment, shared_environment

    project.configure(defaults='[variables]\ncolour = "red"')
    settings = project.settings()
    store = project.store()
    try:
        first = shared_environment(None, settings, store)
        assert shared_environment(first, settings, store) is first  # nothing changed: made once
        assert TryEnvironment(first).resolver.variable("colour") == "red"
        store.put_definition("variables", "shape", json.dumps("round"))  # `minorch var set` between two tries
        second = shared_environment(first, settings, store)
        assert TryEnvironment(second).resolver.variable("shape") == "round"
        project.configure(defaults='[variables]\ncolour = "blue"')  # minorch.toml edited and reloaded
        third = shared_environment(second, project.settings(), store)
        assert TryEnvironment(third).resolver.variable("colour") == "blue"
        assert third.base["MINORCH_CONFIG"] == str(project.root / "minorch.toml")
    finally:
        store.close()
