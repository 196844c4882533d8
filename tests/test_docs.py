"""The docs name every check validate can emit and every secret rule: they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

from grove.secretscan import RULES

ROOT = Path(__file__).resolve().parent.parent


def emitted_check_ids() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "src" / "grove" / "checks").glob("*.py"))
    return set(re.findall(r'"((?:env|ports|git|services|escape)\.[a-z-]+)"', source))


def test_every_check_id_is_documented() -> None:
    doc = (ROOT / "docs" / "validate.md").read_text()
    ids = emitted_check_ids() | {f"secrets.{rule.id}" for rule in RULES}
    assert len(ids) > 30
    missing = sorted(i for i in ids if f"`{i}`" not in doc)
    assert missing == []


def test_every_command_is_in_the_readme() -> None:
    from grove.arguments import build_parser

    readme = (ROOT / "README.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    missing = [name for name in commands if f"`grove {name}" not in readme]
    assert missing == []


def _shell_blocks(section: str) -> list[str]:
    """The lines of the ```sh blocks under one README heading."""
    readme = (ROOT / "README.md").read_text()
    body = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    lines: list[str] = []
    for block in body.split("```sh\n")[1:]:
        lines += [line for line in block.split("```", 1)[0].splitlines() if line.strip()]
    return lines


def test_ci_runs_the_readmes_install_and_test_commands_as_written() -> None:
    """On a fresh machine the README's first commands must work verbatim: .ci/run runs each
    of them as written (the sudo line as root, where sudo is not needed)."""
    ci = (ROOT / ".ci" / "run").read_text()
    commands = _shell_blocks("Install") + _shell_blocks("Development")
    assert any(line.startswith("pipx install") for line in commands)
    assert "python -m pytest" in commands
    for line in commands:
        expected = line.removeprefix("sudo ")
        assert any(ci_line.strip() == expected for ci_line in ci.splitlines()), line


def test_the_man_page_lists_every_command_and_ships_in_the_wheel() -> None:
    """`git grove --help` asks man for git-grove(1): the page must exist, say what each
    command does as `grove --help` does, and be packaged where pip puts man pages."""
    import tomllib

    from grove.usage import COMMAND_HELP

    page = (ROOT / "man" / "grove.1").read_text()
    for name, text in COMMAND_HELP.items():
        roff = text.replace("\\", "\\\\").replace("-", "\\-").replace("'", "\\(aq")
        assert f".B {name}\n{roff}\n" in page, name
    assert (ROOT / "man" / "git-grove.1").read_text() == ".so man1/grove.1\n"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["data-files"]["share/man/man1"]
    assert sorted(shipped) == ["man/git-grove.1", "man/grove.1"]
