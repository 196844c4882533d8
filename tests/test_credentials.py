"""Issue 17: validate recognises every common credential and every sign of production.

The table (tests/credential_table.py) holds .env lines built from the vendors' documented
token formats: production-marked lines must be errors, credentials and production signs
warnings, and dev/staging values, placeholders and look-alikes nothing. No finding may
show more than the first 4 characters of any value, in text or JSON.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from credential_table import (
    CREDENTIAL_FAMILIES,
    FALSE_ALARMS,
    FAMILY_CHECKS,
    PRODUCTION_MARKED,
    ROWS,
    SELECTOR_FAMILY,
    WARNINGS,
)
from grove import secretscan
from grove.secretscan import RULES, scan_text

LEVELS = {"none": 0, "warning": 1, "error": 2}
NAMES = {v: k for k, v in LEVELS.items()}


def level_of(text: str) -> str:
    hits = scan_text(text, Path(".env"))
    return NAMES[max((LEVELS[h.level] for h in hits), default=0)]


def key_and_value(line: str) -> tuple[str, str]:
    body = line.strip().lstrip("#").strip()
    body = body.removeprefix("export ").strip()
    key, equals, value = body.partition("=")
    if not equals or " " in key.strip():  # a note, not an assignment: its longest word
        key, value = "", max(body.split(), key=len)
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key, value


def test_the_table_is_large_enough_and_covers_every_family() -> None:
    assert len(ROWS) >= 150
    families = {family for _, _, family in ROWS}
    expected = {
        "twilio",
        "sendgrid",
        "mailgun",
        "google",
        "jwt",
        "huggingface",
        "npm",
        "square",
        "stripe-webhook",
        "slack",
        "private-key-base64",
        "aws-secret",
        "commented-out",
        "dotenvx",
        "connection-url",
        "production-database",
        "selector",
        "live-key",
        "plaid-production",
    }
    assert expected <= families
    false_alarms = {family for _, _, family in FALSE_ALARMS}
    assert {"test-key", "sandbox", "local-url", "placeholder", "example-key"} <= false_alarms
    assert {"model-name", "uuid", "hash", "entropy"} <= false_alarms
    assert len({line for line, _, _ in ROWS}) == len(ROWS)


@pytest.mark.parametrize(
    ("line", "level", "family"), ROWS, ids=[f"{r[2]}-{i}" for i, r in enumerate(ROWS)]
)
def test_each_line_alone_gets_its_level(line: str, level: str, family: str) -> None:
    assert level_of(line + "\n") == level, line[:60]
    found = {h.rule.id for h in scan_text(line + "\n", Path(".env"))}
    assert found <= FAMILY_CHECKS.get(family, set()), (family, found)


def test_the_issues_targets_on_the_whole_table() -> None:
    marked = [r for r in ROWS if r[2] in PRODUCTION_MARKED]
    assert marked and all(level_of(line + "\n") == "error" for line, _, _ in marked)
    credentials = [r for r in ROWS if r[2] in CREDENTIAL_FAMILIES]
    flagged = sum(level_of(line + "\n") != "none" for line, _, _ in credentials)
    assert flagged / len(credentials) >= 0.95
    assert [line for line, _, _ in FALSE_ALARMS if level_of(line + "\n") != "none"] == []
    whole = "".join(line + "\n" for line, _, _ in FALSE_ALARMS)
    assert scan_text(whole, Path(".env")) == []


SELECTORS = [line for line, _, family in WARNINGS if family == SELECTOR_FAMILY]
CREDENTIALS = [line for line, _, family in WARNINGS if family not in {SELECTOR_FAMILY}]


@pytest.mark.parametrize("selector", SELECTORS)
def test_a_production_selector_is_an_error_beside_a_credential(selector: str) -> None:
    alone = scan_text(selector + "\n", Path(".env"))
    assert [h.level for h in alone] == ["warning"]
    for credential in (CREDENTIALS[0], CREDENTIALS[20]):
        hits = scan_text(f"{selector}\nPORT=3000\n{credential}\n", Path(".env"))
        chosen = next(h for h in hits if h.rule.id == "production-environment")
        assert chosen.level == "error"
        assert "line 3" in chosen.detail
    # a dev value, or a commented-out credential, leaves it a warning
    calm = scan_text(f"{selector}\n# OLD_KEY=sk_test_abc\nLOG_LEVEL=debug\n", Path(".env"))
    assert [h.level for h in calm] == ["warning"]


def test_every_new_rule_has_a_family_row() -> None:
    flagged = {h.rule.id for line, _, _ in ROWS for h in scan_text(line + "\n", Path(".env"))}
    assert {r.id for r in RULES} - flagged == {"too-long"}


HOSTILE = [
    "eyJ" + "a" * 200_000,
    ("eyJ" + "a" * 9 + ".") * 20_000,
    "live_" * 40_000,
    "a_" * 100_000,
    "SG." + "a" * 200_000,
    "LS0tLS1CRUdJT" * 15_000,
    "hooks.slack.com/services/T" + "A" * 200_000,
    "Password=" + "a," * 100_000,
    "postgres://u:p@" * 15_000,
    "AIza" * 50_000,
    "whsec_" * 30_000,
    "-" * 200_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: v[:12])
def test_every_rule_is_fast_on_hostile_values(value: str) -> None:
    judged = value[: secretscan.VALUE_LIMIT]
    for rule in RULES:
        started = time.perf_counter()
        rule.matches("TWILIO_JWT_SECRET_DB_NAME", judged)
        assert time.perf_counter() - started < 0.5, rule.id
    started = time.perf_counter()
    scan_text(f"# KEY={judged}\nKEY={judged}\n", Path(".env"))
    assert time.perf_counter() - started < 2


# ---------------------------------------------------------------- nothing leaks


def _leaks(output: str, value: str, prefix: bool) -> list[str]:
    """Parts of a value longer than its first 4 characters that show in the output: any 8
    characters in a row, and with `prefix` its first 5."""
    if len(value) < 5:
        return []
    found = [value[:5]] if prefix and value[:5] in output else []
    found += [value[i : i + 8] for i in range(len(value) - 7) if value[i : i + 8] in output]
    return found


def _static_text() -> list[str]:
    """What a finding says whatever the value: rule texts, check ids, the hint's words."""
    texts = [r.what for r in RULES] + [f"secrets.{r.id}" for r in RULES]
    return sorted(texts, key=len, reverse=True)


def _scrub(output: str, keys: set[str], sentences: set[str]) -> str:
    """The output without what may legitimately match a value: the fixed texts and key
    names. A host production-host finds shows only its first 4 characters, as values do."""
    for text in [*sorted(sentences, key=len, reverse=True), *_static_text()]:
        output = output.replace(text, " ")
    for key in sorted(keys, key=len, reverse=True):
        output = output.replace(key, " ")
    return output


def test_no_finding_shows_more_than_4_characters_of_a_value(repo: Path, grove) -> None:
    (repo / ".env").write_text("".join(line + "\n" for line, _, _ in ROWS))
    grove("create")
    text = grove("validate", "--all")
    data = grove("validate", "--all", "--json")
    assert text.code == data.code == 1
    findings = [f for f in data.json["findings"] if f["check"].startswith("secrets.")]
    assert len(findings) >= len(ROWS) - len(FALSE_ALARMS)
    # the table's file holds credentials, so its production selectors are errors there
    selectors = [f for f in findings if f["check"] == "secrets.production-environment"]
    assert len(selectors) == len(SELECTORS)
    assert {f["level"] for f in selectors} == {"error"}
    assert all("the same file holds a credential" in f["message"] for f in selectors)
    keys = {key_and_value(line)[0] for line, _, _ in ROWS} - {""}
    # A hint is the same sentence for every finding but for its key and fingerprint.
    hints = {f["hint"].replace(f["message"].split(": ")[0].split(" ")[-1], "KEY") for f in findings}
    hints = {re.sub(r"sha256:[0-9a-f]{16}", "FP", h) for h in hints}
    assert len(hints) <= 2, hints
    sentences = {part for h in hints for part in re.split(r"KEY|FP", h) if len(part) > 8}
    secret_lines = "\n".join(line for line in text.out.splitlines() if " secrets." in line)
    for name, raw, prefix in (
        # Whole outputs: no 8 characters in a row of any value, whatever check printed them.
        ("text", text.out + text.err, False),
        ("json", data.out + data.err, False),
        # The secret findings themselves: not even a value's first 5 characters.
        ("text findings", secret_lines, True),
        ("json findings", "\n".join(str(v) for f in findings for v in f.values()), True),
    ):
        scrubbed = _scrub(raw, keys, sentences)
        leaks = {line[:30]: _leaks(scrubbed, key_and_value(line)[1], prefix) for line, _, _ in ROWS}
        assert {k: v for k, v in leaks.items() if v} == {}, name


def test_previews_never_hold_more_than_4_characters() -> None:
    for line, _, _ in ROWS:
        _, value = key_and_value(line)
        for hit in scan_text(line + "\n", Path(".env")):
            shown = hit.preview.split("****")[0]
            assert len(shown) <= 4
            assert len(value) < 5 or value[:5] not in hit.preview


def test_a_commented_out_credential_is_allowed_like_any_other() -> None:
    live = "sk" + "_live_" + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1"
    text = f"# OLD_STRIPE_KEY={live}\n# KEEP={live} # grove:allow\nPORT=3000\n"
    hits = scan_text(text, Path(".env"))
    assert [(h.rule.id, h.line, h.key, h.level) for h in hits] == [
        ("commented-out", 1, "OLD_STRIPE_KEY", "warning")
    ]
    assert "live Stripe secret key" in hits[0].detail
    assert scan_text(text, Path(".env"), allow=["OLD_STRIPE_KEY"]) == []
    assert scan_text(text, Path(".env"), allow=[hits[0].fingerprint]) == []
    # a key pasted into a note is found too, with no key name to show
    note = scan_text(f"# rotate {live} soon\n", Path(".env"))
    assert [(h.rule.id, h.key, h.level) for h in note] == [("commented-out", "", "warning")]
    assert live[:5] not in note[0].preview
