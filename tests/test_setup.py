"""[setup]: copy from main, run in the slot with its env, resume after a failure."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import slot_ports, write_config


def test_copy_clones_ignored_trees_from_main_without_hard_links(repo: Path, grove) -> None:
    modules = repo / "node_modules" / "left-pad"
    modules.mkdir(parents=True)
    (modules / "index.js").write_text("module.exports = 1\n")
    write_config(repo, '[setup]\ncopy = ["node_modules", "missing-dir"]\n')
    result = grove("create", "--json").json
    copied = repo.parent / "myproject-wt1" / "node_modules" / "left-pad" / "index.js"
    assert copied.read_text() == "module.exports = 1\n"
    assert copied.stat().st_ino != (modules / "index.js").stat().st_ino
    assert copied.stat().st_nlink == 1
    assert any("missing-dir does not exist in main" in n for n in result["notes"])
    copied.write_text("changed in slot")
    assert (modules / "index.js").read_text() == "module.exports = 1\n"


def test_run_steps_see_the_slot_env_and_stream_to_stderr(repo: Path, grove) -> None:
    write_config(repo, '[setup]\nrun = ["echo port=$PORT; echo $PORT > port.txt"]\n')
    result = grove("create", "--json")
    assert result.code == 0
    port = slot_ports(repo, 1)["PORT"]
    assert f"port={port}" in result.err
    assert f"port={port}" not in result.out
    json.loads(result.out)
    assert (repo.parent / "myproject-wt1" / "port.txt").read_text() == f"{port}\n"


def test_failed_step_leaves_slot_incomplete_and_refresh_finishes_it(repo: Path, grove) -> None:
    write_config(
        repo,
        """
[setup]
run = [
  "echo one >> log.txt",
  "test -f go || (echo 'cannot find go'; exit 4)",
  "echo three >> log.txt",
]
""",
    )
    failed = grove("create", "--json")
    assert failed.code == 1
    error = failed.json["error"]
    assert error["code"] == "step-failed"
    assert error["returncode"] == 4
    assert "cannot find go" in error["message"]
    slot = repo.parent / "myproject-wt1"
    assert slot.is_dir()
    assert (slot / "log.txt").read_text() == "one\n"
    listed = grove("list", "--json").json["slots"][1]
    assert listed["setup_complete"] is False

    (slot / "go").write_text("")
    done = grove("refresh", "1", "--json")
    assert done.code == 0
    ran = [r["step"] for r in done.json["ran"]]
    assert ran == ["test -f go || (echo 'cannot find go'; exit 4)", "echo three >> log.txt"]
    assert (slot / "log.txt").read_text() == "one\nthree\n"
    assert grove("list", "--json").json["slots"][1]["setup_complete"] is True
    assert grove("refresh", "1", "--json").json["ran"] == []


def test_create_n_again_completes_the_missing_steps(repo: Path, grove) -> None:
    write_config(repo, '[setup]\nrun = ["test -f go", "echo done > done.txt"]\n')
    assert grove("create", "--json").code == 1
    slot = repo.parent / "myproject-wt1"
    (slot / "go").write_text("")
    again = grove("create", "1", "--json")
    assert again.code == 0
    assert again.json["resumed"] is True
    assert again.json["setup"]["ran"] == ["test -f go", "echo done > done.txt"]
    assert (slot / "done.txt").exists()
