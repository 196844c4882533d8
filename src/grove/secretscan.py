"""Rules that judge whether an env value could touch production. Pure functions.

Values are judged, not key names: SHOW_PRODUCTION_BANNER=false is fine, a Stripe product id
prod_... is fine, sk_live_... anywhere is not. Every rule carries one true-positive and one
true-negative example; the test suite runs every row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import string
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from grove import envfile
from grove.record import record

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


_SCHEME_LETTERS = frozenset(string.ascii_letters)
_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + "+.-")
_URL_REST = re.compile(r"[^\s\"',]+")


def url_candidates(value: str) -> Iterator[str]:
    """What re.findall(r"[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"',]+", value) finds, in linear time.

    That pattern backtracks: from every letter of a run of scheme characters it scans to the
    run's end looking for "://", so a long run costs its length squared (a 20 KB value took
    0.36 s, a 10 MB one never finished: issue 13). Here each "://" is found once and its
    scheme read backwards from it, so every character is looked at a bounded number of times.
    """
    done = 0  # findall's matches never overlap: a scheme starts after the previous match
    at = value.find("://")
    while at != -1:
        run = at
        while run > done and value[run - 1] in _SCHEME_CHARS:
            run -= 1
        # The match starts at the run's first letter (a scheme starts with one).
        start = next((i for i in range(run, at) if value[i] in _SCHEME_LETTERS), None)
        rest = _URL_REST.match(value, at + 3)
        if start is not None and rest is not None:
            yield value[start : rest.end()]
            done = rest.end()
        else:
            done = at + 3
        at = value.find("://", done)


def _production_host_in(value: str) -> str | None:
    """The production host a value points at: a URL's host, or a bare host name."""
    for candidate in url_candidates(value):
        try:
            host = urlsplit(candidate).hostname
        except ValueError:
            continue
        if host and _is_production_host(host):
            return str(host)
    bare = value.strip().partition(":")[0]
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


@record(frozen=True)
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


# The rules read at most this much of one value, so a line costs a bounded time: the
# length of envfile's line limit, past which no program could receive the value anyway.
VALUE_LIMIT = envfile.LINE_LIMIT

TOO_LONG = Rule(
    "too-long",
    ERROR,
    "a value or line too long for grove to judge whole (a secret could hide in the rest)",
    lambda _key, value: len(value) > VALUE_LIMIT,
    ("CA_BUNDLE", "A" * (VALUE_LIMIT + 1)),
    ("CA_BUNDLE", "A" * 4096),
)

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
    # Last, and never "the first rule that matches": scan_text adds it beside any other.
    TOO_LONG,
)


@record(frozen=True)
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


@record(frozen=True)
class Entry:
    key: str
    value: str
    line: int
    allowed_inline: bool


ALLOW_MARKER = "# grove:allow"


def entries(text: str) -> list[Entry]:
    """Every KEY=value in a dotenv text with its line number and a ` # grove:allow` marker.
    Lines no dotenv parser can read in linear time are left out (envfile.LINE_LIMIT)."""
    return [
        Entry(a.key, a.value, a.line, a.source.rstrip().endswith(ALLOW_MARKER))
        for a in envfile.read_assignments(text).assignments
    ]


# A key at the start of a line too long to parse, found within its first KEY_WINDOW
# characters (python-dotenv's unquoted key: anything but =, # and blanks).
KEY_WINDOW = 1024
_KEY_PREFIX = re.compile(r"[^\S\r\n]*(?:export[^\S\r\n]+)?([^=#\s]+)[^\S\r\n]*=")


def _judge(key: str, value: str, prod_accounts: set[str]) -> tuple[Rule, str, str] | None:
    """The first rule a value breaks, its level and a detail, judging at most VALUE_LIMIT
    characters, so one line costs a bounded time whatever its length."""
    judged = value[:VALUE_LIMIT]
    for rule in RULES:
        if rule is TOO_LONG or not rule.matches(key, judged):
            continue
        level, detail = rule.level, ""
        if rule.id == "aws-access-key":
            match = _AWS_KEY.search(judged)
            account = aws_account_id(match.group(1)) if match else None
            if account and account in prod_accounts:
                level, detail = ERROR, f"account {account} is listed as production"
            elif account:
                detail = f"account {account}"
        elif rule.id == "production-host":
            detail = f"host {_production_host_in(judged)}"
        return rule, level, detail
    return None


def scan_text(
    text: str,
    file: Path,
    allow: Iterable[str] = (),
    production_aws_accounts: Iterable[str] = (),
) -> list[Hit]:
    """One finding per line, for the first rule that matches; and a `too-long` finding as
    well for a value or line too long to judge whole, or to parse: a secret could hide past
    the part that was judged, so such a line never passes as clean."""
    allowed = set(allow)
    prod_accounts = set(production_aws_accounts)
    reading = envfile.read_assignments(text)
    hits: list[Hit] = []

    def judge(
        line: int, key: str, value: str, inline: bool, unread: tuple[str, str] | None
    ) -> None:
        if inline or key in allowed:
            return
        mark = fingerprint(key, value)
        if mark in allowed:
            return
        shown = preview(value)
        found = _judge(key, value, prod_accounts)
        if found:
            rule, level, detail = found
            if len(value) > VALUE_LIMIT:
                detail = ", ".join(filter(None, [detail, f"judged on its first {VALUE_LIMIT:,}"]))
            hits.append(Hit(file, line, key, rule, level, shown, mark, detail))
        if unread is not None:
            level, detail = unread
            hits.append(Hit(file, line, key, TOO_LONG, level, shown, mark, detail))
        elif len(value) > VALUE_LIMIT:
            detail = f"{len(value):,} characters, judged on the first {VALUE_LIMIT:,} only"
            hits.append(Hit(file, line, key, TOO_LONG, ERROR, shown, mark, detail))

    for a in reading.assignments:
        judge(a.line, a.key, a.value, a.source.rstrip().endswith(ALLOW_MARKER), None)
    for skipped in reading.skipped:
        # Judged as written, from the first "=" on: the rules look for tokens, which quoting
        # and comments do not hide.
        match = _KEY_PREFIX.match(skipped.text, 0, KEY_WINDOW)
        key, rest = (match.group(1), skipped.text[match.end() :]) if match else ("", skipped.text)
        if skipped.blank_run:  # scanned whole: only grove's own reader misses it
            level = WARNING
            detail = (
                f"more than {envfile.BLANK_RUN_LIMIT} blanks in a row: scanned as written, "
                "but grove's own reader (grove env, refresh, approve) skips this line"
            )
        else:
            level = ERROR
            judged = (
                f"the first {VALUE_LIMIT:,} characters of its value only"
                if len(rest) > VALUE_LIMIT
                else "its value as written"
            )
            detail = (
                f"a line of {len(skipped.text):,} characters: grove's own reader skips it, "
                f"and the rules judged {judged}"
            )
        inline = skipped.text.rstrip().endswith(ALLOW_MARKER)
        judge(skipped.line, key, rest, inline, (level, detail))
    hits.sort(key=lambda hit: hit.line)
    return hits
