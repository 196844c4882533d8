"""Every command's --json prints one JSON object on stdout with a stable top-level shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import grove_process

CONTRACT = {
    ("init", "--dry-run"): {
        "path",
        "written",
        "dry_run",
        "gitignore_added",
        "content",
        "found",
        "seconds",
    },
    ("create",): {
        "slot",
        "path",
        "branch",
        "head",
        "ports",
        "resumed",
        "changes",
        "setup",
        "notes",
        "database",
        "main_database",
    },
    ("refresh", "1"): {"slots", "dry_run", "changed", "ran", "pending", "notes"},
    ("validate",): {"ok", "slots", "errors", "warnings", "findings"},
    ("list",): {"slots", "limit"},
    ("peek", "1"): {
        "slot",
        "path",
        "branch",
        "head",
        "detached",
        "commits",
        "diff_stat",
        "staged",
        "modified",
        "untracked",
        "ahead",
        "behind",
        "lease",
        "services",
    },
    ("up", "1"): {"action", "services"},
    ("down", "1"): {"action", "services"},
    ("env", "1"): {"slot", "path", "ports", "env", "masked"},
    ("switch", "1", "topic"): {
        "slot",
        "path",
        "branch",
        "created",
        "previous",
        "changes",
        "ran",
        "skipped",
        "stopped",
        "ended",
    },
    ("remove", "1"): {
        "slot",
        "path",
        "removed",
        "adopted",
        "forced",
        "deleted_ignored",
        "overridden",
        "database",
        "stopped",
        "ended",
    },
}


@pytest.mark.parametrize("args", list(CONTRACT), ids=" ".join)
def test_json_shape(repo: Path, grove, args: tuple[str, ...]) -> None:
    if args[0] != "create":
        grove("create")
    result = grove(*args, "--json")
    assert result.code == 0, result.out
    data = json.loads(result.out)
    assert isinstance(data, dict)
    assert set(data) == CONTRACT[args]


def test_exec_json_and_errors_are_one_object(repo: Path, grove) -> None:
    grove("create")
    ran = grove_process("exec", "1", "--json", "--", "true", cwd=repo)
    assert json.loads(ran.out) == {"slot": 1, "command": ["true"], "exit_code": 0}
    failed = grove("peek", "7", "--json")
    assert failed.code == 2
    assert set(json.loads(failed.out)) == {"error"}
    assert {"code", "message", "hint"} <= set(json.loads(failed.out)["error"])


def test_json_flag_before_the_command_works_too(repo: Path, grove) -> None:
    assert set(grove("--json", "list").json) == {"slots", "limit"}
