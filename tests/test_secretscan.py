"""Production-secret rules: every row's examples, allow-lists, masking, links followed."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from conftest import write_config
from grove import secretscan
from grove.secretscan import RULES, aws_account_id, scan_text


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_flags_its_positive_example(rule: secretscan.Rule) -> None:
    key, value = rule.positive
    hits = scan_text(f"{key}={value}\n", Path(".env"))
    assert [h.rule.id for h in hits] == [rule.id]
    assert hits[0].level == rule.level
    assert value not in hits[0].preview


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_every_rule_leaves_its_look_alike_alone(rule: secretscan.Rule) -> None:
    key, value = rule.negative
    assert not rule.matches(key, value)
    assert rule.id not in [h.rule.id for h in scan_text(f"{key}={value}\n", Path(".env"))]


@pytest.mark.parametrize(
    "line",
    [
        "SHOW_PRODUCTION_BANNER=false",
        "STRIPE_PRICE=prod_" + "NWxXq1d9eQ3Zsz",
        "API_URL=https://api.staging.example.com",
        "API_URL=https://products.example.com/v1",
        "APP_URL=http://localhost:3000/prod",
        "SMTP_HOST=127.0.0.1",
        "REDIS_URL=redis://prod-cache.localhost:6379",
        "NODE_ENV=development",
        "COMMENT=production is where the money is",
    ],
)
def test_values_that_only_mention_production_are_fine(line: str) -> None:
    assert scan_text(line + "\n", Path(".env")) == []


def _key_for_account(account: str) -> str:
    raw = (int(account) << 7).to_bytes(6, "big") + b"\x11\x22\x33\x44"
    return "AKIA" + base64.b32encode(raw).decode()


def test_aws_key_ids_carry_their_account_and_listed_accounts_are_errors() -> None:
    key_id = _key_for_account("123456789012")
    assert aws_account_id(key_id) == "123456789012"
    text = f"AWS_ACCESS_KEY_ID={key_id}\n"
    dev = scan_text(text, Path(".env"), production_aws_accounts=["999999999999"])
    assert (dev[0].level, dev[0].detail) == ("warning", "account 123456789012")
    prod = scan_text(text, Path(".env"), production_aws_accounts=["123456789012"])
    assert prod[0].level == "error"
    assert "listed as production" in prod[0].detail


def test_allow_by_key_by_fingerprint_and_inline() -> None:
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    text = f"A={secret}\nB={secret} # grove:allow\nC={secret}\n"
    hits = scan_text(text, Path(".env"))
    assert [h.key for h in hits] == ["A", "C"]
    assert [h.line for h in hits] == [1, 3]
    fingerprint = hits[1].fingerprint
    assert secret not in fingerprint
    allowed = scan_text(text, Path(".env"), allow=["A", fingerprint])
    assert allowed == []


def _secret_repo(repo: Path, grove, env_text: str) -> None:
    (repo / ".env").write_text(env_text)
    grove("create")


def test_validate_errors_on_a_live_key_in_the_shared_file_without_printing_it(
    repo: Path, grove
) -> None:
    secret = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
    _secret_repo(repo, grove, f"FEATURE=on\nSTRIPE_SECRET_KEY={secret}\n")
    for args in (("validate", "--json"), ("validate",), ("validate", "1", "--json")):
        result = grove(*args)
        assert result.code == 1
        assert secret not in result.out + result.err
        assert secret[:12] not in result.out + result.err
    finding = next(
        f for f in grove("validate", "--json").json["findings"] if f["check"].startswith("secrets")
    )
    assert finding["check"] == "secrets.stripe-live-secret"
    assert finding["slot"] is None  # main's shared file reaches every slot
    assert finding["message"].startswith(".env:2 STRIPE_SECRET_KEY: a live Stripe secret key")
    assert "fingerprint sha256:" in finding["message"]


def test_links_are_followed_and_local_files_and_drifted_copies_are_scanned(
    repo: Path, grove
) -> None:
    _secret_repo(repo, grove, "FEATURE=on\n")
    slot = repo.parent / "myproject-wt1"
    with (slot / ".env.local").open("a") as local:
        local.write("GITHUB_TOKEN=ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a\n")
    (slot / ".env").unlink()
    (slot / ".env").write_text("DATABASE_URL=postgres://u:p@db.production.example.com/app\n")
    findings = grove("validate", "1", "--json").json["findings"]
    found = {(f["slot"], f["check"], f["level"]) for f in findings}
    assert (1, "secrets.github-token", "warning") in found
    assert (1, "secrets.production-host", "error") in found
    assert any("host db.p****(25 chars)" in f["message"] for f in findings)
    assert not any("production.example" in f["message"] for f in findings)


def test_allow_list_in_grove_toml_silences_a_finding(repo: Path, grove) -> None:
    _secret_repo(repo, grove, "NODE_ENV=production\n")
    first = grove("validate", "--json").json["findings"]
    assert [f["check"] for f in first] == ["secrets.production-environment"]
    write_config(repo, '[security]\nallow = ["NODE_ENV"]\n')
    assert grove("validate", "--json").json["findings"] == []


def test_bad_security_config(repo: Path, grove) -> None:
    write_config(repo, '[security]\nallow = ["not a key"]\n')
    assert "[security] allow" in grove("validate", "--json").json["error"]["message"]
    write_config(repo, '[security]\nproduction_aws_accounts = ["12"]\n')
    assert "production_aws_accounts" in grove("validate", "--json").json["error"]["message"]


def test_scanner_reads_through_links_that_common_tools_skip(tmp_path: Path) -> None:
    real = tmp_path / "real.env"
    real.write_text("K=rk_live_" + "51Hx0a2b3c4d5e6f7g8h9i\n")
    link = tmp_path / ".env"
    link.symlink_to(real)
    assert [h.rule.id for h in scan_text(link.read_text(), link)] == ["stripe-live-restricted"]
