from pathlib import Path


def test_create_twice_gives_three_checkouts(repo: Path, grove) -> None:
    assert grove("create").code == 0
    assert grove("create").code == 0
    listed = grove("list", "--json").json
    assert [s["slot"] for s in listed["slots"]] == [0, 1, 2]
