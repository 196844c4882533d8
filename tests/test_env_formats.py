"""grove env shows what grove writes, masks what may be a secret, and never hands a masked
value to `eval`, `source` or a dotenv reader (issue 15, second deliverable)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import slot_ports, write_config


def rewritten_repo(repo: Path, grove) -> Path:  # type: ignore[no-untyped-def]
    ports = slot_ports(repo, 0)
    (repo / ".env").write_text(
        f"APP_URL=http://localhost:{ports['PORT']}\n"
        f"DATABASE_URL=postgres://app:s3cretpw@localhost:{ports['DB_PORT']}/app\n"
        "API_KEY=sk_test_devkey1234567890\n"
    )
    write_config(repo, '[env.rewrite]\nAPP_URL = "PORT"\nDATABASE_URL = "DB_PORT"\n')
    assert grove("create").code == 0
    return repo


def test_values_grove_writes_are_shown_and_only_credentials_masked(repo: Path, grove) -> None:
    rewritten_repo(repo, grove)
    ports = slot_ports(repo, 1)
    shown = grove("env", "1", "--json").json
    assert shown["env"]["APP_URL"] == f"http://localhost:{ports['PORT']}"
    assert "APP_URL" not in shown["masked"]
    # A rewritten URL keeps its password from the shared file: masked, host and port kept.
    assert shown["env"]["DATABASE_URL"] == f"postgres://app:****@localhost:{ports['DB_PORT']}/app"
    assert sorted(shown["masked"]) == ["API_KEY", "DATABASE_URL"]
    assert "s3cretpw" not in grove("env", "1", "--json").out


def test_eval_formats_leave_masked_values_out_and_say_so(repo: Path, grove) -> None:
    rewritten_repo(repo, grove)
    port = slot_ports(repo, 1)["PORT"]
    for fmt in ("shell", "dotenv"):
        result = grove("env", "1", "--format", fmt)
        assert result.code == 0
        assert "API_KEY" not in result.out and "DATABASE_URL" not in result.out
        assert "****" not in result.out and "chars)" not in result.out
        assert "left out 2 masked value(s): API_KEY, DATABASE_URL" in result.err
    shell = grove("env", "1", "--format", "shell").out
    seen = subprocess.run(
        ["sh", "-c", f'{shell}\nprintf "%s|%s" "$PORT" "$APP_URL"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert seen == f"{port}|http://localhost:{port}"
    revealed = grove("env", "1", "--format", "shell", "--reveal")
    assert "export DATABASE_URL=" in revealed.out and "s3cretpw" in revealed.out
    assert "left out" not in revealed.err


def test_an_uncommitted_config_still_gives_clean_slots(bare_repo: Path, grove) -> None:
    """Following init's "next:" line without committing: grove.toml and a .gitignore that
    lists the local file exist only in main's working tree, not in a new slot's checkout.
    The local file and links go to .git/info/exclude, which every worktree shares."""
    from conftest import git, with_test_ports

    (bare_repo / ".gitignore").write_text("node_modules/\n")  # committed: no .env entries
    git(bare_repo, "add", ".gitignore")
    git(bare_repo, "commit", "-q", "-m", "ignore only node_modules")
    (bare_repo / ".gitignore").write_text("node_modules/\n.env\n.env.local\n")  # not committed
    (bare_repo / "grove.toml").write_text(with_test_ports(bare_repo, ""))  # not committed
    assert grove("create").code == 0
    slot = bare_repo.parent / "myproject-wt1"
    assert (slot / ".env.local").is_file() and (slot / ".env").is_symlink()
    assert git(slot, "status", "--porcelain") == ""
    taken = grove("take", "--label", "t", "--json")
    assert taken.code == 0, taken.out + taken.err
    assert taken.json["slot"] == 1
    exclude = (bare_repo / ".git" / "info" / "exclude").read_text()
    assert "/.env.local" in exclude and "/.env" in exclude


def test_create_refuses_a_taken_database_port_before_building_anything(repo: Path, grove) -> None:
    """The README says the refusal comes before touching anything: no template is seeded
    and no worktree added while slot 1's DB_PORT is held. (No PostgreSQL is needed: the
    refusal comes first, so this also runs as root.)"""
    import socket

    write_config(repo, '[database]\nseed = ["psql -c \\"select 1\\""]\n')
    port = slot_ports(repo, 1)["DB_PORT"]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        refused = grove("create", "--json")
    assert refused.code == 1, refused.out
    assert f"port {port} is held by pid" in refused.json["error"]["message"]
    assert not (repo / ".git" / "grove" / "pg").exists()
    assert not (repo.parent / "myproject-wt1").exists()
