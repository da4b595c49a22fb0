"""What a user gets from `pip install minorch`: run with the virtualenv's Python, outside the source tree.

`minorch --version`, `minorch validate` and a run of a bundled example through the installed
`minorch` command, then the terminal UI under Textual's Pilot with the stylesheet the wheel ships.

    python .ci/wheel_smoke.py REPO
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import minorch
from minorch.config import load_settings
from minorch.tui.app import make_app


def check(done: subprocess.CompletedProcess, what: str) -> str:
    assert done.returncode == 0, f"{what} exited with {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


async def pilot(project: Path) -> str:
    app = make_app(load_settings(project / "minorch.toml"))
    async with app.run_test(size=(120, 40)) as driver:
        for _ in range(200):  # the first refresh of the DAG list, within 10 s
            text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
            if "daily_pipeline" in text:
                break
            await driver.pause(0.05)
        await driver.press("?")
        await driver.pause(0.2)
        return text


def main(repo: Path) -> None:
    installed = Path(minorch.__file__).resolve()
    assert installed.is_relative_to(Path(sys.prefix).resolve()), f"minorch imported from {installed}, not the wheel"
    assert (installed.parent / "tui" / "minorch.tcss").is_file(), "the wheel has no tui/minorch.tcss"
    command = str(Path(sys.executable).parent / "minorch")

    version = check(subprocess.run([command, "--version"], capture_output=True, text=True), "minorch --version")
    expected = f"minorch {importlib.metadata.version('minorch')} (Python "
    assert version.startswith(expected) and "SQLite " in version, version

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        shutil.copytree(repo / "examples", project / "examples")
        shutil.copy(repo / "minorch.toml", project / "minorch.toml")
        run = {"cwd": project, "capture_output": True, "text": True, "timeout": 120}
        check(subprocess.run([command, "validate"], **run), "minorch validate")
        check(subprocess.run([command, "run", "daily_pipeline", "--date", "2024-01-15"], **run), "minorch run")
        screen = asyncio.run(pilot(project))
        assert "daily_pipeline" in screen, screen
    print(f"wheel smoke: {version.strip()}; validate, run daily_pipeline and the UI under Pilot passed")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
