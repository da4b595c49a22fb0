"""Each check CI runs fails on a deliberate violation; the tree is put back as it was.

    python tests/check_violations.py

From the repository's root, with the `lint` and `test` extras installed in this Python's
environment. Each check passes on the tree as it is, fails with the expected message once the
violation is written, and the files are restored (also when something goes wrong):

- ruff: an unused import in minorch/states.py
- mypy: a function returning a str where it promises an int, in minorch/states.py
- lint-imports: minorch/states.py (the core) importing textual
- the wheel: pyproject.toml without the package-data line, so the wheel lacks tui/minorch.tcss;
  the wheel, installed in a fresh virtualenv, fails .ci/wheel_smoke.py

Not collected by pytest (it builds and installs a wheel: about a minute). Exit status 0 when
every violation was caught.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STATES = ROOT / "minorch" / "states.py"
PYPROJECT = ROOT / "pyproject.toml"


def run(command: list[str], cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def wheel_smoke() -> subprocess.CompletedProcess:
    """Build the wheel from a copy of the tree's files (as a fresh clone has them: no build/ or
    *.egg-info left over, whose file lists setuptools would reuse), install it in a fresh
    virtualenv, and run the smoke outside the tree."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"]).stdout
        for name in filter(None, listed.split("\0")):
            if (ROOT / name).is_file():
                (work / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, work / "tree" / name)
        built = run(
            [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--quiet", "-w", str(work / "dist")],
            cwd=work / "tree",
        )
        assert built.returncode == 0, built.stderr
        [wheel] = (work / "dist").glob("*.whl")
        assert run([sys.executable, "-m", "venv", str(work / "venv")]).returncode == 0
        python = str(work / "venv" / "bin" / "python")
        installed = run([python, "-m", "pip", "install", "--quiet", f"{wheel}[test]"])
        assert installed.returncode == 0, installed.stderr
        return run([python, str(ROOT / ".ci" / "wheel_smoke.py"), str(ROOT)], cwd=work)


CHECKS: list[tuple[str, Callable[[], subprocess.CompletedProcess], Path, Callable[[str], str], str]] = [
    (
        "ruff check: an unused import",
        lambda: run([str(BIN / "ruff"), "check", "minorch/states.py"]),
        STATES,
        lambda text: text + "\nimport json\n",
        "F401",
    ),
    (
        "mypy: a wrong type",
        lambda: run([str(BIN / "mypy")]),
        STATES,
        lambda text: text + '\n\ndef _answer() -> int:\n    return "42"\n',
        "Incompatible return value type",
    ),
    (
        "lint-imports: a core module importing textual",
        lambda: run([str(BIN / "lint-imports")]),
        STATES,
        lambda text: text + "\nimport textual  # noqa: E402, F401\n",
        "minorch.states -> textual",
    ),
    (
        "the wheel: a package-data file left out",
        wheel_smoke,
        PYPROJECT,
        lambda text: text.replace('minorch = ["tui/*.tcss"]', "minorch = []"),
        "the wheel has no tui/minorch.tcss",
    ),
]


def main() -> int:
    before = run(["git", "status", "--porcelain"]).stdout
    caught = 0
    for name, check, path, violate, expected in CHECKS:
        clean = check()
        assert clean.returncode == 0, f"{name}: fails on the tree as it is:\n{clean.stdout}{clean.stderr}"
        original = path.read_bytes()
        changed = violate(original.decode())
        assert changed != original.decode(), f"{name}: the violation was not written"
        try:
            path.write_text(changed)
            broken = check()
        finally:
            path.write_bytes(original)
        output = broken.stdout + broken.stderr
        if broken.returncode != 0 and expected in output:
            caught += 1
            print(f"caught     {name} (exit {broken.returncode}: {expected!r})")
        else:
            print(f"NOT CAUGHT {name} (exit {broken.returncode}):\n{output}")
    restored = run(["git", "status", "--porcelain"]).stdout == before
    print(f"{caught} of {len(CHECKS)} violations caught; the tree is as it was: {'yes' if restored else 'NO'}")
    return 0 if caught == len(CHECKS) and restored else 1


if __name__ == "__main__":
    sys.exit(main())
