"""`minorch gantt`, `minorch metrics` and `minorch graph --format svg` as real processes on real files."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET

import pytest
from conftest import minorch_command


def test_gantt_draws_the_run_to_the_width_asked_with_the_critical_path(project, picture_run):
    done = project.minorch("gantt", "pics", "latest", "--width", "90")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(len(line) <= 90 for line in lines[2:-1])
    labels = [line[2:].split()[0] for line in lines[3:-1]]
    assert labels == ["start", "left", "flaky", "parts", "finish"]
    assert "critical path: start → flaky → finish" in lines[1]
    flaky = lines[3 + labels.index("flaky")]
    assert flaky.startswith("* flaky") and "╌" in flaky  # its retry delay
    assert "parts [3 copies]" in done.stdout
    copies = project.minorch("gantt", "pics", "--width", "90", "--copies").stdout
    assert "[0]" in copies and "[2]" in copies


def test_gantt_json_has_every_try_and_svg_is_well_formed(project, picture_run):
    data = json.loads(project.minorch("gantt", "pics", "latest", "--json").stdout)
    bars = {b["task_id"]: b for b in data["bars"]}
    assert [s["kind"] for s in bars["flaky"]["segments"]][-3:] == ["run", "retry", "run"]
    assert bars["flaky"]["segments"][-1]["outcome"] == "success"
    retry = bars["flaky"]["segments"][-2]
    assert round(retry["end"] - retry["start"], 3) >= 1.0  # the JSON's times have 3 decimals
    assert len(bars["parts"]["copies"]) == 3
    assert data["busy"] > 0 and data["wall"] >= bars["finish"]["end"] - 0.01
    assert data["critical_path"] == ["start", "flaky", "finish"]
    out = project.root / "run.svg"
    done = project.minorch("gantt", "pics", "--format", "svg", "-o", str(out))
    assert done.returncode == 0 and done.stderr.strip() == f"wrote {out}"
    ET.parse(out)


def test_gantt_of_an_unknown_run_is_one_line(project, picture_run):
    done = project.minorch("gantt", "pics", "nope")
    assert done.returncode == 2
    assert done.stderr.startswith("minorch: error: DAG 'pics' has no run 'nope'") and len(done.stderr.splitlines()) == 1


CHAIN = '[dags.chain.tasks.a]\ncommand = "true"\n[dags.chain.tasks.b]\ncommand = "true"\nafter = ["a"]\n'


def test_graph_svg_without_graphviz_says_so_in_one_line(project):
    project.write("dags/chain.toml", CHAIN)
    env = {**project.env(), "PATH": str(project.root / "no-bin-here")}
    done = minorch_command(["graph", "chain", "--format", "svg"], cwd=project.root, env=env, timeout=30)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (
        "minorch: error: --format svg needs Graphviz's `dot`, which is not on PATH "
        "(install Graphviz (e.g. `apt install graphviz`), or use --format dot or mermaid)\n"
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graph_svg_with_graphviz_draws_every_task_and_edge(project):
    project.write("dags/chain.toml", CHAIN)
    done = project.minorch("graph", "chain", "--format", "svg")
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(done.stdout)
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert {"a", "b", "a->b"} <= set(titles)
