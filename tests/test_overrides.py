"""validate sees a user line in a local file that overrides a managed variable (issue 13).

Within one file the last definition wins (Node's dotenv and python-dotenv alike), so a line
below grove's block beats grove's value: a warning, and an error when it makes the slot
collide with another. A line above the block loses to it for those readers but is what a
loader keeping the first definition reads: a warning. No finding prints the value.
"""

from __future__ import annotations

from pathlib import Path

from conftest import slot_ports, write_config


def local_file(repo: Path, n: int) -> Path:
    return repo.parent / f"myproject-wt{n}" / ".env.local"


def append(path: Path, text: str) -> None:
    with path.open("a") as fh:
        fh.write(text)


def overrides(result_json: dict) -> list[tuple[int | None, str, str]]:
    return [
        (f["slot"], f["check"], f["level"])
        for f in result_json["findings"]
        if f["check"] in {"env.local-override", "env.override-collision"}
    ]


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_a_user_line_giving_a_slot_mains_port_is_an_error(repo: Path, grove) -> None:
    grove("create")
    grove("create")
    main_port = slot_ports(repo, 0)["PORT"]
    local = local_file(repo, 1)
    append(local, f"\n# mine\nPORT={main_port}\n")
    result = grove("validate", "--json")
    assert result.code == 1
    assert overrides(result.json) == [(1, "env.override-collision", "error")]
    finding = next(f for f in result.json["findings"] if f["check"] == "env.override-collision")
    assert finding["message"].startswith(f"myproject-wt1/.env.local:{line_count(local)} PORT: ")
    assert "slot 0's PORT" in finding["message"]
    assert str(main_port) not in finding["message"] + finding["hint"]
    assert grove("validate", "2", "--json").json["findings"] == []  # slot 1's, not slot 2's


def test_an_override_that_collides_with_nothing_is_a_warning(repo: Path, grove) -> None:
    grove("create")
    unused = max(slot_ports(repo, 24).values()) + 1  # past every slot's table
    local = local_file(repo, 1)
    append(local, f"PORT={unused}\n")
    result = grove("validate", "--json")
    assert result.code == 0
    assert overrides(result.json) == [(1, "env.local-override", "warning")]
    [finding] = result.json["findings"]
    assert finding["message"].startswith(f"myproject-wt1/.env.local:{line_count(local)} PORT: ")
    assert "overrides grove's value" in finding["message"]
    assert str(unused) not in finding["message"] + finding["hint"]


def test_a_line_above_the_block_is_shadowed_and_says_what_it_would_collide_with(
    repo: Path, grove
) -> None:
    grove("create")
    local = local_file(repo, 1)
    local.write_text(f"PORT={slot_ports(repo, 0)['PORT']}\n" + local.read_text())
    result = grove("validate", "--json")
    assert result.code == 0  # Node's dotenv and python-dotenv read the block's value
    assert overrides(result.json) == [(1, "env.local-override", "warning")]
    message = result.json["findings"][0]["message"]
    assert message.startswith("myproject-wt1/.env.local:1 PORT: ")
    assert "a loader that keeps the first definition" in message
    assert "slot 0's PORT" in message


def test_two_slots_overriding_to_one_port_both_get_the_error(repo: Path, grove) -> None:
    grove("create")
    grove("create")
    unused = max(slot_ports(repo, 24).values()) + 1
    append(local_file(repo, 1), f"PORT={unused}\n")
    append(local_file(repo, 2), f"PORT={unused}\n")
    result = grove("validate", "--json")
    assert overrides(result.json) == [
        (1, "env.override-collision", "error"),
        (2, "env.override-collision", "error"),
    ]
    messages = [f["message"] for f in result.json["findings"]]
    assert "slot 2's PORT" in messages[0]
    assert "slot 1's PORT" in messages[1]


def test_an_override_onto_another_of_the_slots_own_ports_is_an_error(repo: Path, grove) -> None:
    grove("create")
    append(local_file(repo, 1), f"PORT={slot_ports(repo, 1)['DB_PORT']}\n")
    result = grove("validate", "--json")
    assert overrides(result.json) == [(1, "env.override-collision", "error")]
    assert "this slot's DB_PORT" in result.json["findings"][0]["message"]


def test_a_later_user_line_wins_over_an_earlier_one(repo: Path, grove) -> None:
    grove("create")
    main_port = slot_ports(repo, 0)["PORT"]
    own = slot_ports(repo, 1)["PORT"]
    append(local_file(repo, 1), f"PORT={main_port}\nPORT={own}\n")
    result = grove("validate", "--json")
    assert result.code == 0  # the second line is what readers end up with: grove's own value
    found = [(f["level"], f["message"]) for f in result.json["findings"]]
    assert [level for level, _ in found] == ["warning", "warning"]
    assert "lines before and after it set it too" in found[0][1]  # no reader keeps it
    assert "overrides grove's value" in found[1][1]


def test_a_database_url_pointing_at_another_slots_database_is_an_error(repo: Path, grove) -> None:
    write_config(
        repo,
        '[env.derived]\nDATABASE_URL = "postgresql://app@db.internal:5432/app_{n}"\n',
    )
    grove("create")
    password = "s3cr3t-pw-" + "never-printed"
    append(local_file(repo, 1), f"DATABASE_URL=postgres://other:{password}@DB.internal/app_0\n")
    result = grove("validate", "--json")
    assert result.code == 1
    assert overrides(result.json) == [(1, "env.override-collision", "error")]
    finding = result.json["findings"][0]
    assert "slot 0's DATABASE_URL: two slots on one database" in finding["message"]
    assert password not in result.out + result.err
    assert "db.internal" not in finding["message"].lower()


def test_a_local_url_on_another_slots_port_is_an_error(repo: Path, grove) -> None:
    write_config(
        repo, '[env.derived]\nDATABASE_URL = "postgresql://postgres@127.0.0.1:{DB_PORT}/app"\n'
    )
    grove("create")
    main_db = slot_ports(repo, 0)["DB_PORT"]
    append(local_file(repo, 1), f"DATABASE_URL=postgresql://me@localhost:{main_db}/other\n")
    result = grove("validate", "--json")
    assert overrides(result.json) == [(1, "env.override-collision", "error")]
    assert "slot 0's DB_PORT" in result.json["findings"][0]["message"]


def test_user_lines_that_set_other_keys_are_fine(repo: Path, grove) -> None:
    grove("create")
    append(local_file(repo, 1), "LOG_LEVEL=debug\nFEATURE_X=off\n")
    assert grove("validate", "--json").json["findings"] == []
