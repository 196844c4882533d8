"""A slot's database is not open to other local users (issue 13): every cluster takes only
the repository's password, which lives 0600 under `.git/grove/` and in each slot's managed
block. Clusters made by an older grove (trust auth) are secured on their next start,
without a moment of trust over TCP and without losing the slot's rows."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import make_repo, write_config
from grove import dbtarget, envfile
from grove.database.cluster import AUTH_FILE, HBA, Cluster
from grove.errors import DamagedState
from grove.slots import open_grove
from pgutil import free_port_base, stop_all_clusters

SEED_SQL = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO users (name) SELECT 'user' || g FROM generate_series(1, 20) g;
"""
NO_PASSFILE = "/nonexistent/grove-test/.pgpass"  # libpq looks for none, finds none
# What initdb --auth=trust wrote for the grove before this change.
OLD_TRUST_HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"


@pytest.fixture
def pg_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> Iterator[Path]:
    """Cluster mode, a seed and a migration that both log in with psql and no arguments
    (so with the PG* variables grove gives them); every server stopped after."""
    main_dir = make_repo(tmp_path / "work", files={"db/seed.sql": SEED_SQL})
    monkeypatch.chdir(main_dir)
    base = free_port_base(6)
    write_config(
        main_dir,
        f"""
[grove]
slots = 4
[ports]
DB_PORT = {base}
[database]
seed = [
    "psql -v ON_ERROR_STOP=1 -q -f db/seed.sql",
    'psql -v ON_ERROR_STOP=1 -q "$DATABASE_URL" -c "CREATE TABLE from_url (id int)"',
]
seed_inputs = ["db/seed.sql"]
migrate = ["psql -v ON_ERROR_STOP=1 -q -c 'CREATE TABLE IF NOT EXISTS posts (id int)'"]
""",
    )
    yield main_dir
    stop_all_clusters(tmp_path, bin_dir)


def password_file(main_dir: Path) -> Path:
    return main_dir / ".git" / "grove" / "pg" / "password"


def slot_dir(main_dir: Path, n: int) -> Path:
    return main_dir if n == 0 else main_dir.parent / f"{main_dir.name}-wt{n}"


def managed_block(main_dir: Path, n: int) -> dict[str, str]:
    block = envfile.read_block((slot_dir(main_dir, n) / ".env.local").read_text())
    assert block is not None
    return block


def db_port(main_dir: Path, n: int) -> int:
    return open_grove(main_dir).config.ports_for(n)["DB_PORT"]


def stranger_env(tmp_path: Path) -> dict[str, str]:
    """What another local user brings: no PGPASSWORD, a home without .pgpass."""
    home = tmp_path / "stranger-home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["HOME"] = str(home)
    return env


def connect(port: int, password: str | None, dbname: str = "app") -> Any:
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user="postgres",
        dbname=dbname,
        password=password,
        passfile=NO_PASSFILE,
        autocommit=True,
        connect_timeout=5,
    )


def refused(port: int, password: str | None, dbname: str = "app") -> bool:
    import psycopg

    try:
        with connect(port, password, dbname):
            return False
    except psycopg.OperationalError as exc:
        text = str(exc)
        assert "password" in text, text  # refused for want of a password, not unreachable
        return True


def rows(port: int, password: str, sql: str, dbname: str = "app") -> list[tuple[Any, ...]]:
    with connect(port, password, dbname) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


# --- a new slot's database ------------------------------------------------------------


def test_a_slots_database_refuses_whoever_lacks_the_password(
    pg_repo: Path, grove: Any, bin_dir: Path, tmp_path: Path
) -> None:
    made = grove("create", "--json")
    assert made.code == 0, made.out + made.err
    port = db_port(pg_repo, 1)
    assert refused(port, None)
    assert refused(port, "not-the-password", "postgres")
    psql = subprocess.run(
        [
            *(str(bin_dir / "psql"), "-X", "-w", "-h", "127.0.0.1", "-p", str(port)),
            *("-U", "postgres", "-d", "postgres", "-c", "COPY (SELECT 1) TO PROGRAM 'true'"),
        ],
        env=stranger_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert psql.returncode != 0
    assert "password" in psql.stderr
    # No Unix socket to try instead: grove's servers have none.
    block = managed_block(pg_repo, 1)
    assert rows(port, block["PGPASSWORD"], "SHOW unix_socket_directories") == [("",)]


def test_the_managed_block_carries_the_password_and_it_opens_the_database(
    pg_repo: Path, grove: Any
) -> None:
    assert grove("create", "--json").code == 0
    password = password_file(pg_repo).read_text().strip()
    port = db_port(pg_repo, 1)
    block = managed_block(pg_repo, 1)
    assert block["PGPASSWORD"] == password
    assert block["DATABASE_URL"] == f"postgresql://postgres:{password}@127.0.0.1:{port}/app"
    assert (block["PGHOST"], block["PGPORT"], block["PGUSER"], block["PGDATABASE"]) == (
        "127.0.0.1",
        str(port),
        "postgres",
        "app",
    )
    # The seed and the migration logged in with those variables (PGPASSWORD, DATABASE_URL).
    assert rows(port, password, "SELECT count(*) FROM users") == [(20,)]
    assert rows(port, password, "SELECT count(*) FROM from_url") == [(0,)]
    assert rows(port, password, "SELECT count(*) FROM posts") == [(0,)]
    import psycopg

    with psycopg.connect(block["DATABASE_URL"], passfile=NO_PASSFILE) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # main's block too, and `grove env` does not print the password unasked.
    assert managed_block(pg_repo, 0)["PGPASSWORD"] == password
    shown = grove("env", "1", "--json")
    assert shown.code == 0, shown.out + shown.err
    assert password not in shown.out + shown.err


def test_the_password_file_is_0600_and_never_in_the_servers_log(pg_repo: Path, grove: Any) -> None:
    assert grove("create", "--json").code == 0
    path = password_file(pg_repo)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 40
    for log in (pg_repo / ".git" / "grove" / "pg").rglob("postgres.log"):
        assert password not in log.read_text(errors="replace")


def test_grove_db_psql_logs_in_with_the_password_it_keeps(
    pg_repo: Path, grove: Any, tmp_path: Path
) -> None:
    assert grove("create").code == 0
    result = subprocess.run(
        [sys.executable, "-m", "grove", "db", "psql", "1", "--", "-w", "-tAc", "SELECT 42"],
        cwd=pg_repo,
        env=stranger_env(tmp_path),  # nothing in the caller's environment helps
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "42"


# --- clusters made before the password ------------------------------------------------


def make_it_old(data: Path, bin_dir: Path, port: int, leave_running: bool) -> None:
    """Turn a cluster into what the grove before this change left: trust auth for loopback,
    no password, no grove-auth, listening on 127.0.0.1 with no socket."""
    (data / "pg_hba.conf").write_text(OLD_TRUST_HBA)
    (data / AUTH_FILE).unlink()
    log = data.parent / "postgres.log"
    subprocess.run(
        [
            *(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w"),
            *("-o", f"-p {port} -k '' -c listen_addresses=127.0.0.1", "start"),
        ],
        check=True,
        capture_output=True,
    )
    with connect(port, None, "postgres") as conn:
        conn.execute("ALTER ROLE postgres PASSWORD NULL")
    if not leave_running:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=True,
            capture_output=True,
        )


def test_an_old_trust_cluster_is_secured_and_keeps_its_rows(
    pg_repo: Path, grove: Any, bin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slot 1 still running with trust, slot 2 stopped, the template stopped, no password
    file: `grove refresh --all` closes every one, the slots keep their own rows, and no
    server grove starts on the way ever listens on TCP before it needs the password."""
    assert grove("create", "1", "--json").code == 0
    assert grove("create", "2", "--json").code == 0
    old_password = password_file(pg_repo).read_text().strip()
    p1, p2 = db_port(pg_repo, 1), db_port(pg_repo, 2)
    rows(p1, old_password, "INSERT INTO users (name) VALUES ('slot 1 work')")
    rows(p2, old_password, "INSERT INTO users (name) VALUES ('slot 2 work')")
    assert grove("db", "stop", "1", "2").code == 0
    pg = pg_repo / ".git" / "grove" / "pg"
    make_it_old(pg / "template" / "data", bin_dir, free_port_base(1), leave_running=False)
    make_it_old(pg / "slot-1" / "data", bin_dir, p1, leave_running=True)
    make_it_old(pg / "slot-2" / "data", bin_dir, p2, leave_running=False)
    password_file(pg_repo).unlink()
    assert not refused(p1, None)  # the hole this issue closes, as an older grove left it

    starts: list[dict[str, Any]] = []
    real_start = Cluster._pg_ctl_start

    def watched_start(self: Cluster, port: int, extra_options: str) -> None:
        real_start(self, port, extra_options)
        with socket.socket() as probe:
            tcp = probe.connect_ex(("127.0.0.1", port)) == 0
        starts.append(
            {
                "cluster": self.root.name,
                "tcp": tcp,
                "hba": (self.data / "pg_hba.conf").read_text(),
                "private": "listen_addresses=''" in extra_options,
            }
        )

    monkeypatch.setattr(Cluster, "_pg_ctl_start", watched_start)
    refreshed = grove("refresh", "--all", "--json")  # what docs/database.md says to run
    assert refreshed.code == 0, refreshed.out + refreshed.err
    password = password_file(pg_repo).read_text().strip()
    assert password != old_password  # a new one was made

    for n, port, mine in ((1, p1, "slot 1 work"), (2, p2, "slot 2 work")):
        assert refused(port, None)
        names = {row[0] for row in rows(port, password, "SELECT name FROM users")}
        assert mine in names
        assert len(names) == 21
        assert managed_block(pg_repo, n)["PGPASSWORD"] == password
    # The template was secured in place (the seed did not run again) and every server grove
    # started listened on TCP only with the password-only pg_hba.conf in force.
    # main's too: the first create made it, with the password that was lost
    assert {s["cluster"] for s in starts if s["private"]} == {
        "template",
        "slot-0",
        "slot-1",
        "slot-2",
    }
    assert all(not s["tcp"] for s in starts if s["private"])
    assert all(s["hba"] == HBA for s in starts)
    template = Cluster(pg / "template", bin_dir)
    assert template.secured(password)
    three = grove("create", "3", "--json")
    assert three.code == 0, three.out + three.err
    assert three.json["database"]["template"]["built"] is False
    assert refused(db_port(pg_repo, 3), None)
    assert rows(db_port(pg_repo, 3), password, "SELECT count(*) FROM users") == [(20,)]


def test_a_replaced_password_is_taken_by_the_running_cluster_at_its_next_start(
    pg_repo: Path, grove: Any
) -> None:
    assert grove("create", "--json").code == 0
    port = db_port(pg_repo, 1)
    old = password_file(pg_repo).read_text().strip()
    rows(port, old, "INSERT INTO users (name) VALUES ('kept')")
    password_file(pg_repo).unlink()  # lost, or deleted to rotate it
    started = grove("db", "start", "1", "--json")
    assert started.code == 0, started.out + started.err
    assert started.json["slots"][0]["result"] == "started"  # restarted to take the new one
    new = password_file(pg_repo).read_text().strip()
    assert new != old
    assert refused(port, old)
    assert rows(port, new, "SELECT count(*) FROM users") == [(21,)]
    assert grove("refresh", "1").code == 0
    assert managed_block(pg_repo, 1)["PGPASSWORD"] == new


# --- the password file (no PostgreSQL needed) -----------------------------------------


def cluster_repo(repo: Path) -> Path:
    write_config(repo, "[database]\n")
    return repo


def test_the_password_is_made_once_and_every_process_gets_the_same(repo: Path) -> None:
    cluster_repo(repo)
    probe = (
        "from grove import dbtarget\nfrom grove.slots import open_grove\n"
        "print(dbtarget.cluster_password(open_grove()))\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", probe], cwd=repo, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    answers = {child.communicate(timeout=60)[0].strip() for child in children}
    assert all(child.returncode == 0 for child in children)
    assert len(answers) == 1
    assert answers == {password_file(repo).read_text().strip()}
    assert stat.S_IMODE(password_file(repo).stat().st_mode) == 0o600


def test_the_managed_values_carry_the_password(repo: Path) -> None:
    grove = open_grove(cluster_repo(repo))
    values = dbtarget.env_values(grove, 1)
    password = password_file(repo).read_text().strip()
    assert values["PGPASSWORD"] == password
    assert f"postgres:{password}@127.0.0.1:" in values["DATABASE_URL"]


def test_a_loosened_password_file_is_closed_again(repo: Path) -> None:
    grove = open_grove(cluster_repo(repo))
    password = dbtarget.cluster_password(grove)
    password_file(repo).chmod(0o644)
    assert dbtarget.cluster_password(grove) == password
    assert stat.S_IMODE(password_file(repo).stat().st_mode) == 0o600


def test_a_damaged_password_file_names_the_file_and_never_its_content(repo: Path) -> None:
    grove = open_grove(cluster_repo(repo))
    password_file(repo).parent.mkdir(parents=True)
    password_file(repo).write_text("hunter2 is not a grove password\n")
    with pytest.raises(DamagedState) as damaged:
        dbtarget.cluster_password(grove)
    text = json.dumps([damaged.value.message, damaged.value.hint])
    assert str(password_file(repo)) in text
    assert "hunter2" not in text


def test_server_mode_keeps_its_own_credentials_and_makes_no_password(repo: Path) -> None:
    write_config(
        repo,
        '[database]\nmode = "server"\nurl = "postgresql://app:s3cret@db.internal:5433/postgres"\n',
    )
    values = dbtarget.env_values(open_grove(repo), 1)
    assert values["PGPASSWORD"] == "s3cret"
    assert values["DATABASE_URL"] == "postgresql://app:s3cret@db.internal:5433/app_wt1"
    assert not password_file(repo).exists()


def test_a_seed_that_changes_the_superusers_password_fails_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bin_dir: Path, grove: Any
) -> None:
    main_dir = make_repo(tmp_path / "work")
    monkeypatch.chdir(main_dir)
    seed = "psql -q -c \"ALTER ROLE postgres PASSWORD 'postgres'\""
    config = f"[ports]\nDB_PORT = {free_port_base(3)}\n[database]\nseed = [{json.dumps(seed)}]\n"
    write_config(main_dir, config)
    try:
        made = grove("create", "--json")
        assert made.code != 0
        error = made.json["error"]
        assert "password authentication failed" in error["message"]
        assert "must not change that role's password" in error["hint"]
    finally:
        stop_all_clusters(tmp_path, bin_dir)


def test_a_passwords_fingerprint_is_sha256_without_loading_openssl() -> None:
    """The auth file names the password by a sha256 fingerprint. grove computes it with
    CPython's own sha256 (a warm take checks it, and OpenSSL's import cost 2-3 ms): the
    digest must stay hashlib's, or every cluster secured before would look re-keyed."""
    import hashlib

    from grove.database.cluster import password_fingerprint

    for password in ("", "p" * 64, "pässwörd"):
        expected = hashlib.sha256(b"grove cluster password\0" + password.encode()).hexdigest()
        assert password_fingerprint(password) == expected[:32]
    probe = "import sys; from grove.database.cluster import password_fingerprint as named;"
    probe += " named('x'); print('_hashlib' in sys.modules)"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "False"
