"""What `minorch` loads to start: a command's module only when that command is used, with the
help text unchanged; run as real processes where what gets imported is the point."""

from __future__ import annotations

import importlib
import subprocess
import sys

import click
import pytest
from conftest import child_env, minorch_command

from minorch.cli import COMMANDS, main

# Runs the `minorch` entry point as `python -m minorch` does, then writes the names of the
# modules it imported as the last line of stderr.
SHOW_MODULES = """
import sys
from minorch.cli import main
try:
    main(sys.argv[1:], prog_name="minorch")
finally:
    print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def imported_modules(*args: str, cwd) -> set[str]:
    """The modules `minorch ARGS` imports, after checking it succeeded."""
    done = subprocess.run(
        [sys.executable, "-c", SHOW_MODULES, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stderr.splitlines()[-1].split())


def test_help_lists_every_command_without_importing_any_command_module(tmp_path):
    modules = imported_modules("--help", cwd=tmp_path)
    assert "minorch.cli" in modules
    assert not {m for m in modules if m.startswith("minorch.cli.")}
    assert not {"minorch.config", "minorch.registry", "minorch.store", "jinja2", "textual"} & modules


def test_a_command_imports_its_own_family_only(tmp_path):
    modules = imported_modules("dags", "--help", cwd=tmp_path)
    assert {m for m in modules if m.startswith("minorch.cli.")} == {"minorch.cli.inspect"}


def every_family_loaded() -> None:
    for module in {module for module, _ in COMMANDS.values()}:
        importlib.import_module(f"minorch.cli.{module}")


def test_the_command_table_names_each_command_with_its_module_and_nothing_else():
    every_family_loaded()
    assert set(main.commands) == set(COMMANDS)
    for name, (module, _) in COMMANDS.items():
        assert main.commands[name].callback.__module__ == f"minorch.cli.{module}", name


@pytest.mark.parametrize("width", [50, 72, 80, 120])
def test_the_help_from_the_command_table_is_the_help_click_makes_from_the_commands(width):
    """The summaries in COMMANDS, shortened for the terminal's width, are what click shows from
    each command's own help: a docstring edited without its summary fails here."""
    every_family_loaded()
    ctx = click.Context(main, info_name="minorch", terminal_width=width)
    from_table, from_commands = ctx.make_formatter(), ctx.make_formatter()
    main.format_commands(ctx, from_table)
    click.Group.format_commands(main, ctx, from_commands)
    assert from_table.getvalue() == from_commands.getvalue()
    assert from_table.getvalue().count("\n") > len(COMMANDS)


def test_an_unknown_command_is_a_usage_error(tmp_path):
    done = minorch_command(["dagz"], cwd=tmp_path, env=child_env())
    assert done.returncode == 2 and "No such command 'dagz'" in done.stderr


# Modules only some runs need: the fork server (Python tasks), the DAG file watcher (`up`), SLA,
# sensor and asset freshness checks (DAGs that have them), and XML (--junit).
ON_USE = {
    "minorch.executors.forkserver",
    "minorch.watcher",
    "ctypes",
    "minorch.sla",
    "minorch.sensors",
    "minorch.freshness",
    "xml.etree.ElementTree",
}


def test_a_run_of_one_shell_task_loads_none_of_what_only_other_runs_need(project):
    project.write("dags/hello.toml", '[dags.hello]\n[dags.hello.tasks.say]\ncommand = "echo hello"\n')
    modules = imported_modules("run", "hello", cwd=project.root)
    assert "minorch.scheduler" in modules
    assert not ON_USE & modules


def test_a_run_with_a_python_task_an_sla_and_junit_loads_what_they_need(project):
    project.write(
        "dags/flow.py",
        """\
        from minorch import DAG, task

        with DAG("flow"):

            @task(sla="1h")
            def extract():
                return [1, 2, 3]

            extract()
        """,
    )
    modules = imported_modules("run", "flow", "--junit", "report.xml", cwd=project.root)
    assert {"minorch.executors.forkserver", "minorch.sla", "xml.etree.ElementTree"} <= modules
    assert 'name="extract"' in (project.root / "report.xml").read_text()
