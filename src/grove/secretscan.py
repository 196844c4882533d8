"""Rules that judge whether an env value could touch production. Pure functions.

Values are judged, not key names: SHOW_PRODUCTION_BANNER=false is fine, a Stripe product id
prod_... is fine, sk_live_... anywhere is not. Every rule carries one true-positive and one
true-negative example; the test suite runs every row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ERROR = "error"
WARNING = "warning"

_PROD_TOKENS = {"prod", "production", "prd"}
_NON_PROD_TOKENS = {
    "staging",
    "stage",
    "stg",
    "dev",
    "development",
    "test",
    "testing",
    "sandbox",
    "qa",
    "uat",
    "preview",
    "local",
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "host.docker.internal"}
_HOSTNAME = re.compile(r"^(?=.{4,253}$)[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _host_tokens(host: str) -> list[str]:
    return [t for label in host.lower().split(".") for t in re.split(r"[-_]", label) if t]


def _is_production_host(host: str) -> bool:
    host = host.lower().strip("[]")
    if host in _LOCAL_HOSTS or host.endswith(".localhost") or host.startswith("127."):
        return False
    tokens = _host_tokens(host)
    return bool(_PROD_TOKENS & set(tokens)) and not (_NON_PROD_TOKENS & set(tokens))


def _production_host_in(value: str) -> str | None:
    """The production host a value points at: a URL's host, or a bare host name."""
    for candidate in re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"',]+", value):
        try:
            host = urlsplit(candidate).hostname
        except ValueError:
            continue
        if host and _is_production_host(host):
            return str(host)
    bare = value.strip().split(":")[0]
    if _HOSTNAME.match(bare) and _is_production_host(bare):
        return bare
    return None


def aws_account_id(key_id: str) -> str | None:
    """The AWS account an access key id belongs to (it is encoded in the id)."""
    match = re.fullmatch(r"(?:AKIA|ASIA|AIDA|AROA|ABIA|ACCA)([A-Z2-7]{16})", key_id)
    if not match:
        return None
    try:
        raw = base64.b32decode(match.group(1))
    except (binascii.Error, ValueError):
        return None
    # bits 1..40 of the first six bytes carry the 12-digit account number
    number = (int.from_bytes(raw[:6], "big") & 0x7FFFFFFFFF80) >> 7
    return f"{number:012d}"


@dataclass(frozen=True)
class Rule:
    id: str
    level: str
    what: str
    matches: Callable[[str, str], bool]  # (key, value) -> hit
    positive: tuple[str, str]  # an example (key, value) the rule must flag
    negative: tuple[str, str]  # a look-alike it must leave alone


def _pattern(regex: str) -> Callable[[str, str], bool]:
    compiled = re.compile(regex)
    return lambda _key, value: bool(compiled.search(value))


_AWS_KEY = re.compile(r"\b((?:AKIA|ASIA)[A-Z2-7]{16})\b")

RULES: tuple[Rule, ...] = (
    Rule(
        "stripe-live-secret",
        ERROR,
        "a live Stripe secret key (sk_live_)",
        _pattern(r"\bsk_live_[0-9A-Za-z]{10,}"),
        ("STRIPE_KEY", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
        ("STRIPE_KEY", "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ),
    Rule(
        "stripe-live-restricted",
        ERROR,
        "a live Stripe restricted key (rk_live_)",
        _pattern(r"\brk_live_[0-9A-Za-z]{10,}"),
        ("STRIPE_RESTRICTED", "rk_live_" + "51Hx0a2b3c4d5e6f7g8h9i"),
        ("STRIPE_RESTRICTED", "rk_test_" + "51Hx0a2b3c4d5e6f7g8h9i"),
    ),
    Rule(
        "braintree-production",
        ERROR,
        "a Braintree production access token",
        _pattern(r"access_token\$production\$[0-9a-z]{8,}"),
        ("BRAINTREE_TOKEN", "access_token$production$" + "x9y8z7w6$0123456789abcdef"),
        ("BRAINTREE_TOKEN", "access_token$sandbox$" + "x9y8z7w6$0123456789abcdef"),
    ),
    Rule(
        "plaid-production",
        ERROR,
        "a Plaid production access token",
        _pattern(r"\baccess-production-[0-9a-f]{8}-[0-9a-f-]{8,}"),
        ("PLAID_ACCESS_TOKEN", "access-production-" + "4f3a2b1c-9d8e-7f6a-5b4c-3d2e1f0a9b8c"),
        ("PLAID_ACCESS_TOKEN", "access-sandbox-" + "4f3a2b1c-9d8e-7f6a-5b4c-3d2e1f0a9b8c"),
    ),
    Rule(
        "dotenvx-production-key",
        ERROR,
        "a dotenvx production private key",
        lambda key, value: (
            bool(re.fullmatch(r"DOTENV_PRIVATE_KEY_PR(OD|ODUCTION|D)\w*", key))
            and bool(re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()))
        ),
        ("DOTENV_PRIVATE_KEY_PRODUCTION", "a4547dcd9d3429615a3649bb79e87edb" * 2),
        ("DOTENV_PRIVATE_KEY_DEVELOPMENT", "a4547dcd9d3429615a3649bb79e87edb" * 2),
    ),
    Rule(
        "production-host",
        ERROR,
        "a URL or host whose name says prod/production/prd",
        lambda _key, value: _production_host_in(value) is not None,
        ("DATABASE_URL", "postgres://app:" + "hunter2" + "@db.prod.example.com:5432/app"),
        ("DATABASE_URL", "postgres://app:" + "hunter2" + "@db.staging.example.com:5432/app"),
    ),
    Rule(
        "aws-access-key",
        WARNING,
        "an AWS access key id: nothing in it says dev or staging (list production accounts "
        "in [security] production_aws_accounts to make this an error)",
        lambda _key, value: bool(_AWS_KEY.search(value)),
        ("AWS_ACCESS_KEY_ID", "AKIA" + "IOSFODNN7EXAMPLE"),
        ("AWS_ACCESS_KEY_ID", "AKIA" + "IOSFODNN7EXAMPL"),
    ),  # one character short
    Rule(
        "private-key",
        WARNING,
        "a PEM private key",
        _pattern(r"-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----"),
        ("SIGNING_KEY", "-----BEGIN " + "RSA PRIVATE KEY-----MIIEpAIBAAKCAQEA"),
        ("SIGNING_CERT", "-----BEGIN " + "CERTIFICATE-----MIIDdzCCAl+gAwIBAgIE"),
    ),
    Rule(
        "github-token",
        WARNING,
        "a GitHub token",
        _pattern(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("GITHUB_TOKEN", "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"),
        ("GITHUB_REPO", "ghp-tools/widgets"),
    ),
    Rule(
        "slack-token",
        WARNING,
        "a Slack token",
        _pattern(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
        ("SLACK_TOKEN", "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("SLACK_CHANNEL", "#xoxo-team"),
    ),
    Rule(
        "anthropic-key",
        WARNING,
        "an Anthropic API key",
        _pattern(r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("ANTHROPIC_API_KEY", "sk-ant-" + "api03-abcdefghijklmnopqrstuvwxyz012345"),
        ("ANTHROPIC_API_KEY", "sk-ant-" + "placeholder"),
    ),
    Rule(
        "openai-key",
        WARNING,
        "an OpenAI API key",
        _pattern(r"\bsk-(?!ant-)(proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
        ("OPENAI_API_KEY", "sk-proj-" + "abcdefghijklmnopqrstuvwxyz0123456789"),
        ("ANTHROPIC_API_KEY", "sk-ant-" + "api03-abcdefghijklmnopqrstuvwxyz012345"),
    ),
    Rule(
        "stripe-live-publishable",
        WARNING,
        "a live Stripe publishable key (pk_live_)",
        _pattern(r"\bpk_live_[0-9A-Za-z]{10,}"),
        ("NEXT_PUBLIC_STRIPE_KEY", "pk_live_" + "51Hx0a2b3c4d5e6f7g8h9i"),
        ("STRIPE_PRODUCT", "prod_" + "NWxXq1d9eQ3Zsz"),
    ),
    Rule(
        "production-environment",
        WARNING,
        "the app is told it runs in production (NODE_ENV/APP_ENV/RAILS_ENV)",
        lambda key, value: (
            key
            in {
                "NODE_ENV",
                "APP_ENV",
                "RAILS_ENV",
                "RACK_ENV",
                "DJANGO_ENV",
                "FLASK_ENV",
                "ENVIRONMENT",
                "ENV",
            }
            and value.strip().lower() in {"production", "prod"}
        ),
        ("NODE_ENV", "production"),
        ("SHOW_PRODUCTION_BANNER", "false"),
    ),
)


@dataclass(frozen=True)
class Hit:
    file: Path
    line: int
    key: str
    rule: Rule
    level: str
    preview: str
    fingerprint: str
    detail: str = ""


def fingerprint(key: str, value: str) -> str:
    """A stable id for a finding that never reveals the value."""
    return "sha256:" + hashlib.sha256(f"{key}={value}".encode()).hexdigest()[:16]


def preview(value: str) -> str:
    """Enough to recognise a value (its first few characters), never enough to use it."""
    shown = value[: min(8, len(value) // 4)]
    return f"{shown}****({len(value)} chars)"


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    line: int
    allowed_inline: bool


def entries(text: str) -> list[Entry]:
    """Every KEY=value in a dotenv text with its line number and a ` # grove:allow` marker."""
    from dotenv.parser import parse_stream

    found: list[Entry] = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.key is None or binding.value is None:
            continue
        original = binding.original.string.rstrip()
        found.append(
            Entry(
                binding.key,
                binding.value,
                binding.original.line,
                original.endswith("# grove:allow"),
            )
        )
    return found


def scan_text(
    text: str,
    file: Path,
    allow: Iterable[str] = (),
    production_aws_accounts: Iterable[str] = (),
) -> list[Hit]:
    allowed = set(allow)
    prod_accounts = set(production_aws_accounts)
    hits: list[Hit] = []
    for entry in entries(text):
        if entry.allowed_inline or entry.key in allowed:
            continue
        mark = fingerprint(entry.key, entry.value)
        if mark in allowed:
            continue
        for rule in RULES:
            if not rule.matches(entry.key, entry.value):
                continue
            level, detail = rule.level, ""
            if rule.id == "aws-access-key":
                match = _AWS_KEY.search(entry.value)
                account = aws_account_id(match.group(1)) if match else None
                if account and account in prod_accounts:
                    level, detail = ERROR, f"account {account} is listed as production"
                elif account:
                    detail = f"account {account}"
            elif rule.id == "production-host":
                detail = f"host {_production_host_in(entry.value)}"
            hits.append(
                Hit(file, entry.line, entry.key, rule, level, preview(entry.value), mark, detail)
            )
            break  # one finding per line: the first (most specific) rule
    return hits
