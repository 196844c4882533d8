"""Every scan validate runs is linear, and one line costs a bounded time (issue 13).

The old URL scan backtracked from every letter of a long run of scheme characters: a 20 KB
value took 0.36 s, 80 KB 4.1 s, and a 10 MB line never finished. python-dotenv strips an
inline comment with a pattern that is quadratic in a run of blanks. These tests feed each
scan the shape that was slow, at a size the old code could not finish (no timing here:
the suite completing is the check), and show that a line too long to judge whole is named,
never passed as clean. bench/validate_long_values.py measures the times.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from conftest import make_repo
from grove import detect, envfile, secretscan, values
from grove.secretscan import VALUE_LIMIT, scan_text

TEN_MB = 10 * 1024 * 1024
LIVE_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"

# The scan as it was: grove's production-host rule used this with re.findall.
OLD_URL_SCAN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"',]+")


def findings(result_json: dict, prefix: str = "") -> list[dict]:
    return [f for f in result_json["findings"] if f["check"].startswith(prefix)]


# ---------------------------------------------------------------- rule level


def test_the_url_scan_finds_what_the_old_pattern_found() -> None:
    rng = random.Random(13)
    alphabet = ["a", "B", "1", "+", ".", "-", ":", "/", "://", " ", ",", "'", '"', "é", "\t"]
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert list(secretscan.url_candidates(value)) == OLD_URL_SCAN.findall(value), value


@pytest.mark.parametrize(
    "shape",
    [
        "a" * 1_000_000,  # one run of scheme characters, no "://": the old worst case
        "db.prod-" * 125_000,  # a long host-like run
        "a://" * 250_000,  # many "://"
        "x:/" * 330_000,  # almost a URL, everywhere
        "http://" + "p" * 1_000_000,  # one URL with a huge host
    ],
    ids=["scheme-run", "host-run", "many-schemes", "near-urls", "huge-host"],
)
def test_the_production_host_rule_handles_the_old_pathological_shapes(shape: str) -> None:
    # The old scan needed about n*n/2 steps here (hours at 1 MB); this one reads each
    # character a bounded number of times.
    rule = next(r for r in secretscan.RULES if r.id == "production-host")
    rule.matches("URL", shape)
    list(secretscan.url_candidates(shape))
    assert [h.rule.id for h in scan_text(f"URL={shape}\n", Path(".env"))] == ["too-long"]


def test_a_production_host_past_a_long_scheme_run_is_still_found() -> None:
    value = "a" * 50_000 + " postgres://app:pw@db.prod.example.com/app"
    hits = scan_text(f"DATABASE_URL={value}\n", Path(".env"))
    assert [(h.rule.id, h.detail) for h in hits] == [("production-host", "host db.p****(19 chars)")]


@pytest.mark.parametrize(
    "padding",
    [" " * TEN_MB, "x" * TEN_MB, '"' + "x" * TEN_MB + '"'],
    ids=["blanks", "letters", "quoted"],
)
def test_a_secret_past_the_judged_part_never_passes_as_clean(padding: str) -> None:
    hits = scan_text(f"A=1\nBLOB={padding}{LIVE_KEY}\nB={LIVE_KEY}\n", Path(".env"))
    assert [(h.line, h.key, h.rule.id, h.level) for h in hits] == [
        (2, "BLOB", "too-long", "error"),
        (3, "B", "stripe-live-secret", "error"),
    ]
    assert f"{VALUE_LIMIT:,}" in hits[0].detail
    assert LIVE_KEY not in hits[0].preview + hits[0].detail


def test_a_secret_in_the_judged_part_of_a_long_line_is_named_as_well() -> None:
    hits = scan_text(f"BLOB={LIVE_KEY}{'x' * TEN_MB}\n", Path(".env"))
    assert [(h.rule.id, h.level) for h in hits] == [
        ("stripe-live-secret", "error"),
        ("too-long", "error"),
    ]


def test_a_long_value_across_many_short_lines_is_judged_in_part_and_said_so() -> None:
    value = "".join(f"line{i:06d}\n" for i in range(20_000))  # 220 KB, no line is long
    hits = scan_text(f'A=1\nBUNDLE="{value}{LIVE_KEY}"\n', Path(".env"))
    assert [(h.line, h.key, h.rule.id) for h in hits] == [(2, "BUNDLE", "too-long")]
    assert "judged on the first" in hits[0].detail


def test_a_long_line_is_allowed_by_key_fingerprint_or_marker() -> None:
    long = "x" * (2 * VALUE_LIMIT)
    text = f"BLOB={long}\n"
    [hit] = scan_text(text, Path(".env"))
    assert scan_text(text, Path(".env"), allow=["BLOB"]) == []
    assert scan_text(text, Path(".env"), allow=[hit.fingerprint]) == []
    assert scan_text(f"BLOB={long} # grove:allow\n", Path(".env")) == []


def test_a_long_run_of_blanks_is_scanned_whole_and_named_as_a_warning() -> None:
    # python-dotenv's comment stripping is quadratic in a run of blanks: 40,000 took 4.9 s.
    text = f"PADDED=a{' ' * 300}b\nSPACES=x{' ' * TEN_MB}{LIVE_KEY}\n"
    hits = scan_text(text, Path(".env"))
    assert [(h.line, h.key, h.rule.id, h.level) for h in hits] == [
        (1, "PADDED", "too-long", "warning"),
        (2, "SPACES", "too-long", "error"),
    ]
    assert "blanks in a row" in hits[0].detail


def test_grove_reads_around_a_line_it_cannot_parse() -> None:
    text = f"A=1\r\nBLANKS=a{' ' * 300}b\nLONG={'y' * TEN_MB}\rB=2\n\nC=3 # c\n"
    assert envfile.parse_text(text) == {"A": "1", "B": "2", "C": "3"}
    reading = envfile.read_assignments(text)
    assert [(s.line, s.blank_run) for s in reading.skipped] == [(2, True), (3, False)]
    # Lines counted as python-dotenv counts them (\r\n, \n and \r), each key on its own line.
    assert [(a.key, a.line) for a in reading.assignments] == [("A", 1), ("B", 4), ("C", 6)]
    # A comment is read in linear time whatever its blanks: it stays.
    assert envfile.read_assignments(f"#{' ' * 300}note\nD=4\n").skipped == []


def test_a_key_after_blank_lines_is_reported_on_its_own_line() -> None:
    # python-dotenv starts a binding at the blank lines before it; findings name the key's line.
    hits = scan_text(f"A=1\n\n\n# comment\n\nKEY={LIVE_KEY}\n", Path(".env"))
    assert [(h.key, h.line) for h in hits] == [("KEY", 6)]


def test_variable_references_are_read_in_linear_time() -> None:
    # `${` that never closes made the old pattern rescan to the end from each one (46 s at
    # 128 KiB); the results are the same as before.
    value = "${A" * 200_000 + "$B"
    assert values.var_refs(value) == ["B"]
    assert values.rewrite_value(value, None, None, None, {"B": "b"}) == "${A" * 200_000 + "b"
    assert values.var_refs("${A}x${B:-1}$C") == ["A", "B", "C"]


def test_compose_file_flags_are_read_in_linear_time() -> None:
    old = re.compile(r"(?:-f|--file)[ =](\S+\.ya?ml)")
    rng = random.Random(13)
    parts = ["-f", "--file", " ", "=", "a", ".yml", ".yaml", "ml", "-", "f"]
    for _ in range(20_000):
        command = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        assert detect._compose_flags(command) == old.findall(command), command
    assert detect._compose_flags("-f=" * 500_000 + " -f c.yml") == ["c.yml"]


# ---------------------------------------------------------------- validate


def test_validate_finishes_on_a_10_mb_line_in_the_shared_file(repo: Path, grove) -> None:
    grove("create")
    (repo / ".env").write_text(f"A=1\nBIG={'db.prod-' * (TEN_MB // 8)}\nB={LIVE_KEY}\n")
    result = grove("validate", "--json")
    assert result.code == 1
    secrets = findings(result.json, "secrets.")
    assert [(f["slot"], f["check"], f["level"]) for f in secrets] == [
        (None, "secrets.too-long", "error"),
        (None, "secrets.stripe-live-secret", "error"),
    ]
    assert secrets[0]["message"].startswith(".env:2 BIG: a value or line too long")
    assert "db.prod-db" not in result.out + result.err
    assert LIVE_KEY not in result.out + result.err


def test_validate_finishes_on_a_10_mb_line_in_a_local_file(repo: Path, grove) -> None:
    grove("create")
    local = repo.parent / "myproject-wt1" / ".env.local"
    with local.open("a") as fh:
        fh.write(f"PAD=a{' ' * TEN_MB}{LIVE_KEY}\n")
    result = grove("validate", "--json")
    assert result.code == 1
    assert [(f["slot"], f["check"]) for f in result.json["findings"]] == [(1, "secrets.too-long")]
    assert "myproject-wt1/.env.local:" in result.json["findings"][0]["message"]
    assert LIVE_KEY not in result.out + result.err


def test_a_huge_package_json_is_named_not_read(tmp_path: Path, grove) -> None:
    scripts = {f"s{i}": f"node s{i}.js -f={'-f=' * 20}" for i in range(10_000)}
    main_dir = make_repo(tmp_path / "w", files={"package.json": json.dumps({"scripts": scripts})})
    result = grove("validate", "--json", cwd=main_dir)
    assert [(f["check"], f["level"]) for f in findings(result.json, "escape.")] == [
        ("escape.file-too-large", "warning")
    ]
