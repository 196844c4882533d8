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
from grove.record import record, replace

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
    # "credential": the value is a secret; "environment": it selects production (an error
    # when the same file holds a credential); "host": it points at a production host;
    # "limit": grove could not judge it whole.
    kind: str = "credential"


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
    "limit",
)

# Credential shapes are grove's own rules, not a detector library's. detect-secrets (the
# library issue 17 suggests) was measured: importing it costs about 140 ms (most of it
# `requests`), as much again as a whole `grove validate --all --json` (about 150 ms); most
# families below have no plugin there (Mailgun, Google, Hugging Face, Stripe webhook
# secrets, Slack webhooks, base64 PEM, connection URLs, other vendors' live keys), and its
# entropy plugins do what this scan must not: a high-entropy string alone is not a finding.
# Every pattern below is written from the vendor's documented token shape. Each is anchored
# where a token starts (a lookbehind for the token's own characters) and has bounded
# repeats, so a run of token characters is read a bounded number of times: scans stay
# linear.
_T = "A-Za-z0-9_\\-"  # base64url, the alphabet most tokens use
_AWS_KEY = re.compile(r"\b((?:AKIA|ASIA)[A-Z2-7]{16})\b")

# A token that says it is not real: documentation placeholders, masks, templates.
_PLACEHOLDER_MARKS = (
    "example",
    "your",
    "change",
    "placeholder",
    "redacted",
    "replace",
    "dummy",
    "sample",
    "fake",
    "xxxx",
    "<",
    "${",
    "...",
    "****",
    "0000",
    "1234",
)


def looks_placeholder(token: str) -> bool:
    low = token.lower()
    return any(mark in low for mark in _PLACEHOLDER_MARKS) or len(set(low)) < 6


def _token(regex: str) -> Callable[[str, str], bool]:
    """A rule that matches a token of this shape that is not a placeholder."""
    compiled = re.compile(regex)
    return lambda _key, value: any(
        not looks_placeholder(m.group(0)) for m in compiled.finditer(value)
    )


def _unquoted(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def _key_words(key: str) -> set[str]:
    return {w for w in re.split(r"[^A-Z0-9]+", key.upper()) if w}


# A live key of a vendor with no rule of its own: the `_live_` convention (Stripe's, and
# Paystack's, Razorpay's `rzp_live_`, Omise's `skey_live_`, Mollie's `live_`, ...).
_LIVE_KEY = re.compile(r"(?<![A-Za-z0-9])([A-Za-z0-9]{1,16}_)?live_([A-Za-z0-9_]{12,100})")


def _live_key(_key: str, value: str) -> bool:
    for m in _LIVE_KEY.finditer(value):
        body = m.group(2)
        if m.group(1) == "pk_":  # a Stripe publishable key: public by design, its own rule
            continue
        # A key has a run of 12+ letters and digits; a path or a name ("live_event_2024")
        # has words.
        runs = body.split("_")
        if not looks_placeholder(body) and any(
            len(run) >= 12 and any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
            for run in runs
        ):
            return True
    return False


_JWT = re.compile(rf"(?<![{_T}])eyJ[{_T}]{{8,4000}}\.(eyJ[{_T}]{{8,8000}})\.[{_T}]{{16,1000}}")


def _jwt(_key: str, value: str) -> bool:
    """A signed JWT; not the Supabase CLI's local demo keys (issuer "supabase-demo"), which
    are the same published keys on every developer's machine."""
    for m in _JWT.finditer(value):
        if looks_placeholder(m.group(0)):
            continue
        payload = m.group(1)
        try:
            claims = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (binascii.Error, ValueError):
            claims = b""
        if b'"supabase-demo"' not in claims:
            return True
    return False


# An AWS secret access key: exactly 40 characters of base64 (AWS's documented shape), with
# upper and lower case and digits (a hex hash or a word has not all three).
_AWS_SECRET = re.compile(r"[A-Za-z0-9/+]{40}")


def _aws_secret(_key: str, value: str) -> bool:
    value = _unquoted(value)
    return (
        bool(_AWS_SECRET.fullmatch(value))
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and not looks_placeholder(value)
    )


# base64 of "-----BEGIN": a PEM key stored base64-encoded, as Kubernetes secrets and many
# CI variables hold them.
_B64_PEM = re.compile(r"LS0tLS1CRUdJT[A-Za-z0-9+/]{8,60}")


def _base64_private_key(_key: str, value: str) -> bool:
    for m in _B64_PEM.finditer(value):
        text = m.group(0)
        text = text[: len(text) // 4 * 4]
        try:
            decoded = base64.b64decode(text)
        except (binascii.Error, ValueError):
            continue
        if b"PRIVATE KEY" in decoded:
            return True
    return False


def _twilio_secret(key: str, value: str) -> bool:
    """A Twilio auth token or API key secret: 32 characters under a TWILIO key (nothing
    else in such a token names the vendor); a test credential says TEST in its name."""
    words = _key_words(key)
    value = _unquoted(value)
    return (
        "TWILIO" in words
        and bool(words & {"TOKEN", "SECRET"})
        and "TEST" not in words
        and bool(re.fullmatch(r"[A-Za-z0-9]{32}", value))
        and not looks_placeholder(value)
    )


def _square_token(key: str, value: str) -> bool:
    """Square's production and sandbox access tokens share the EAAA shape: a token under a
    key that says SANDBOX is left alone; sandbox application secrets say sandbox-sq0csb-."""
    if "SANDBOX" in _key_words(key):
        return False
    return _SQUARE(key, value)


_SQUARE = _token(
    rf"(?<![{_T}])(?:sq0atp-[{_T}]{{22,60}}|sq0csp-[{_T}]{{40,60}}|EAAA[{_T}]{{56,200}})"
)


# A dev or documented secret says so in its words.
_DEV_WORDS = _NON_PROD_TOKENS | {"insecure", "notsecret", "changeme", "secret", "jwt"}


def _jwt_secret(key: str, value: str) -> bool:
    """A JWT signing secret: any value of 16+ characters under a JWT key, unless its words
    say it is a dev or placeholder value ("dev-jwt-secret")."""
    words = _key_words(key)
    value = _unquoted(value)
    return (
        "JWT" in words
        and bool(words & {"SECRET", "KEY", "SIGNING"})
        and "PUBLIC" not in words
        and len(value) >= 16
        and not looks_placeholder(value)
        and not (_words(value) & _DEV_WORDS)
    )


def _dotenvx_key(key: str, value: str) -> bool:
    return bool(re.fullmatch(r"DOTENV_PRIVATE_KEY(_\w+)?", key)) and bool(
        re.fullmatch(r"[0-9a-fA-F]{64}", value.strip())
    )


_CONNECTION_SCHEMES = {
    "postgres",
    "postgresql",
    "mysql",
    "mariadb",
    "mongodb",
    "mongodb+srv",
    "amqp",
    "amqps",
    "redis",
    "rediss",
    "mssql",
    "sqlserver",
    "smtp",
    "smtps",
}
_WEAK_PASSWORDS = {"password", "pass", "secret", "postgres", "root", "admin", "guest", "test"}
_PRIVATE_IP = re.compile(
    r"(?:10|127)\.\d+\.\d+\.\d+|192\.168\.\d+\.\d+|172\.(?:1[6-9]|2\d|3[01])\.\d+\.\d+"
)
_EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")


def _is_local_host(host: str) -> bool:
    """A host on this machine, its compose network (a service name has no dot) or a private
    network, or a documentation domain."""
    host = host.lower().strip("[]")
    if ":" in host:  # IPv6: loopback, link-local and unique-local addresses only
        return host == "::1" or host.startswith(("fe80:", "fc", "fd"))
    return (
        host in _LOCAL_HOSTS
        or "." not in host
        or host.endswith((".localhost", ".local", ".internal", ".test", ".example"))
        or host.endswith(_EXAMPLE_DOMAINS)
        or host in _EXAMPLE_DOMAINS
        or bool(_PRIVATE_IP.fullmatch(host))
    )


def _says_non_production(host: str) -> bool:
    return bool(_NON_PROD_TOKENS & set(_host_tokens(host)))


def _remote_password(password: str) -> bool:
    return (
        password.lower() not in _WEAK_PASSWORDS
        and not password.startswith("$")
        and not looks_placeholder(password)
    )


# Connection strings that are not URLs: StackExchange.Redis (Azure Cache for Redis) and
# ADO.NET name the host first or in a Server= part, and the password in a Password= part.
_CONN_PASSWORD = re.compile(r"(?i)(?<![A-Za-z])(?:password|pwd)=([^,;\s\"']{1,200})")
_CONN_SERVER = re.compile(
    r"(?i)(?<![A-Za-z])(?:server|host|data source|address)=(?:tcp:)?([A-Za-z0-9.-]{1,253})"
)
_CONN_FIRST_HOST = re.compile(r"\s*([A-Za-z0-9.-]{1,253})(?::\d{1,5})?,")


def _remote_credentials(_key: str, value: str) -> bool:
    """A URL (postgres, mongodb, amqp, redis, smtp, ...) or connection string that carries
    a password for a host that is not local and does not say dev or staging."""
    for candidate in url_candidates(value):
        try:
            parts = urlsplit(candidate)
            scheme, password, host = parts.scheme.lower(), parts.password, parts.hostname
        except ValueError:
            continue
        if (
            scheme in _CONNECTION_SCHEMES
            and password
            and host
            and _remote_password(password)
            and not _is_local_host(host)
            and not _says_non_production(host)
        ):
            return True
    found = _CONN_PASSWORD.search(value)
    if not found or not _remote_password(found.group(1)):
        return False
    server = _CONN_SERVER.search(value) or _CONN_FIRST_HOST.match(value)
    if server is None:
        return False
    host = server.group(1)
    return not _is_local_host(host) and not _says_non_production(host)


_DB_NAME_KEYS = ("DB_NAME", "_DATABASE", "DATABASE_NAME", "POSTGRES_DB", "MONGO_DB")


def _says_production(text: str) -> bool:
    words = _words(text)
    return bool(_PROD_TOKENS & words) and not (_NON_PROD_TOKENS & words)


def _production_database(key: str, value: str) -> bool:
    """A database URL whose database name (its path) says production, or a database-name
    variable that does ("app_production"), on any host."""
    if key.upper().endswith(_DB_NAME_KEYS) and _says_production(_unquoted(value)):
        return True
    for candidate in url_candidates(value):
        try:
            parts = urlsplit(candidate)
        except ValueError:
            continue
        if parts.scheme.lower() in _CONNECTION_SCHEMES and _says_production(parts.path):
            return True
    return False


# Variables that select the environment an app, framework or SDK runs against.
_SELECTOR_KEYS = {
    "NODE_ENV",
    "APP_ENV",
    "RAILS_ENV",
    "RACK_ENV",
    "DJANGO_ENV",
    "FLASK_ENV",
    "MIX_ENV",
    "ENVIRONMENT",
    "ENV",
    "STAGE",
    "ASPNETCORE_ENVIRONMENT",
    "DOTNET_ENVIRONMENT",
    "SPRING_PROFILES_ACTIVE",
    "QUARKUS_PROFILE",
    "MICRONAUT_ENVIRONMENTS",
    "AWS_PROFILE",
    "PAYPAL_MODE",
}
_SELECTOR_VALUES = _PROD_TOKENS | {"live"}


def _production_selector(key: str, value: str) -> bool:
    """NODE_ENV=production and friends, a payment SDK's PLAID_ENV=production or
    PAYPAL_MODE=live, a Spring profile list with prod in it, AWS_PROFILE=acme-prod."""
    upper = key.upper()
    if upper not in _SELECTOR_KEYS and not upper.endswith(("_ENV", "_ENVIRONMENT")):
        return False
    for item in _unquoted(value)[:256].split(","):
        words = _words(item)
        if words & _SELECTOR_VALUES and not (words & _NON_PROD_TOKENS):
            return True
    return False


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
        "a Plaid production token (access, public, link or processor)",
        _pattern(r"\b(?:access|public|link|processor)-production-[0-9a-f]{8}-[0-9a-f-]{8,}"),
        ("PLAID_PUBLIC_TOKEN", "public-production-" + "4f3a2b1c-9d8e-7f6a-5b4c-3d2e1f0a9b8c"),
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
        "host",
    ),
    Rule(
        "live-key",
        ERROR,
        "a live-marked key (the _live_ convention) of a vendor with no rule of its own",
        _live_key,
        ("RAZORPAY_KEY_ID", "rzp_live_" + "Jx7Qm2Lp9Vb4Tz"),
        ("RAZORPAY_KEY_ID", "rzp_test_" + "Jx7Qm2Lp9Vb4Tz"),
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
        "aws-secret-key",
        WARNING,
        "an AWS secret access key's shape (40 characters of base64, mixed case and digits)",
        _aws_secret,
        ("BACKUP_S3_SECRET", "Xk3pR9" + "vT2mQ7/wL5nB8cZ4+hJ6fD1gS0aY3uE7iO"),
        ("GIT_SHA", "3f1c0a9e5b7d2468" + "a1b2c3d4e5f60718293a4b5c"),
    ),
    Rule(
        "private-key",
        WARNING,
        "a PEM private key",
        _pattern(r"-----BEGIN ((RSA|EC|DSA|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----"),
        ("SIGNING_KEY", "-----BEGIN " + "RSA PRIVATE KEY-----MIIEpAIBAAKCAQEA"),
        ("SIGNING_CERT", "-----BEGIN " + "CERTIFICATE-----MIIDdzCCAl+gAwIBAgIE"),
    ),
    Rule(
        "private-key-base64",
        WARNING,
        "a base64-encoded PEM private key",
        _base64_private_key,
        ("SIGNING_KEY_B64", "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t" + "TUlJRXZn"),
        ("CA_CERT_B64", "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t" + "TUlJRHp6"),
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
        "a Slack token (bot, user, app-level or refresh)",
        _token(r"\b(?:xox[abeprs]-|xoxe\.xox[bp]-|xapp-)[A-Za-z0-9-]{10,400}"),
        ("SLACK_APP_TOKEN", "xapp-" + "1-A04B5CDEF9G-4829150376241-0a1b2c3d4e5f6a7b8c9d"),
        ("SLACK_CHANNEL", "#xoxo-team"),
    ),
    Rule(
        "slack-webhook",
        WARNING,
        "a Slack incoming-webhook URL (anyone holding it can post)",
        _token(
            r"hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,20}/[A-Za-z0-9/]{8,120}"
        ),
        (
            "SLACK_WEBHOOK_URL",
            "https://hooks.slack.com/services/" + "T04AB5CDE/B06FG7HIJ/q8Rt2Lm9Vx3Kp7Nz4Wc6Yb1D",
        ),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T00000000/B00000000/" + "X" * 24),
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
        "stripe-webhook-secret",
        WARNING,
        "a Stripe webhook signing secret (whsec_)",
        _token(r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9]{24,100}"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_" + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0Sa"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_" + "..."),
    ),
    Rule(
        "sendgrid-key",
        WARNING,
        "a SendGrid API key (SG.)",
        _token(rf"(?<![{_T}.])SG\.[{_T}]{{16,32}}\.[{_T}]{{30,64}}"),
        (
            "SMTP_URL",
            "smtp://apikey:SG."
            + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Y.d1Hf5Jg0SaQm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0S"
            + "@smtp.sendgrid.net:587",
        ),
        ("SENDGRID_TEMPLATE", "d-" + "0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
    ),
    Rule(
        "mailgun-key",
        WARNING,
        "a Mailgun API key",
        _token(
            r"(?<![A-Za-z0-9-])(?:key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})(?![A-Za-z0-9-])"
        ),
        ("MAILGUN_API_KEY", "key-" + "3f9a1c7e5b2d4860a9c1e3f5b7d90a2c"),
        ("MAILGUN_DOMAIN", "mg.example.com"),
    ),
    Rule(
        "twilio-key",
        WARNING,
        "a Twilio API key (SK...) or auth token",
        lambda key, value: (
            _twilio_secret(key, value)
            or _token(r"(?<![A-Za-z0-9])SK[0-9a-f]{32}(?![A-Za-z0-9])")(key, value)
        ),
        ("TWILIO_API_KEY", "SK" + "3f9a1c7e5b2d4860a9c1e3f5b7d90a2c"),
        ("TWILIO_TEST_AUTH_TOKEN", "3f9a1c7e5b2d4860" + "a9c1e3f5b7d90a2c"),
    ),
    Rule(
        "google-api-key",
        WARNING,
        "a Google API key (AIza)",
        _token(rf"(?<![{_T}])AIza[{_T}]{{35}}(?![{_T}])"),
        ("GOOGLE_MAPS_API_KEY", "AIza" + "Sy3Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0Sa"),
        ("GOOGLE_MAPS_API_KEY", "AIza" + "Sy_your_key_here"),
    ),
    Rule(
        "google-oauth-secret",
        WARNING,
        "a Google OAuth client secret (GOCSPX-)",
        _token(rf"(?<![{_T}])GOCSPX-[{_T}]{{24,40}}"),
        ("GOOGLE_CLIENT_SECRET", "GOCSPX-" + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5J"),
        ("GOOGLE_CLIENT_ID", "1234567890-abc" + "defghijklmnop.apps.googleusercontent.com"),
    ),
    Rule(
        "huggingface-token",
        WARNING,
        "a Hugging Face access token (hf_)",
        _token(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,60}(?![A-Za-z0-9_])"),
        ("HF_TOKEN", "hf_" + "Qm7Lp2Vx9Kt4Rb8NwZcYdHfJgSaQmLpVxK"),
        ("HF_MODEL", "hf_internal_testing/tiny-random-bert"),
    ),
    Rule(
        "npm-token",
        WARNING,
        "an npm access token (npm_)",
        _token(r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])"),
        ("NPM_TOKEN", "npm_" + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0SaQm7L"),
        ("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/"),
    ),
    Rule(
        "square-token",
        WARNING,
        "a Square access token or application secret",
        _square_token,
        (
            "SQUARE_ACCESS_TOKEN",
            "EAAA" + "l3Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0Sa-Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0",
        ),
        (
            "SQUARE_APPLICATION_SECRET",
            "sandbox-sq0csb-" + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0SaQm7Lp2Vx9K",
        ),
    ),
    Rule(
        "jwt",
        WARNING,
        "a JSON Web Token (signed, and often long-lived)",
        _jwt,
        (
            "SUPABASE_SERVICE_ROLE_KEY",
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0."
            + "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0Sa",
        ),
        ("JWT_ISSUER", "https://auth.example.com/"),
    ),
    Rule(
        "jwt-secret",
        WARNING,
        "a JWT signing secret",
        _jwt_secret,
        ("JWT_SECRET", "Qm7Lp2Vx9Kt4Rb8Nw3Zc6Yd1Hf5Jg0Sa"),
        ("JWT_SECRET", "dev-jwt-secret-do-not-use"),
    ),
    Rule(
        "dotenvx-private-key",
        WARNING,
        "a dotenvx private key (not the production one, but it decrypts its file's secrets)",
        _dotenvx_key,
        ("DOTENV_PRIVATE_KEY_STAGING", "a4547dcd9d3429615a3649bb79e87edb" * 2),
        ("DOTENV_PUBLIC_KEY_STAGING", "03" + "a4547dcd9d3429615a3649bb79e87edb" * 2),
    ),
    Rule(
        "remote-credentials",
        WARNING,
        "a connection URL or string with a password for a host that is not local",
        _remote_credentials,
        ("MONGODB_URI", "mongodb+srv://app:" + "Qm7Lp2Vx9Kt4" + "@cluster0.ab1cd.mongodb.net/app"),
        ("DATABASE_URL", "postgres://app:" + "Qm7Lp2Vx9Kt4" + "@db:5432/app"),
    ),
    Rule(
        "production-database",
        WARNING,
        "a database name that says production",
        _production_database,
        ("DATABASE_URL", "postgres://localhost:5432/" + "shop_production"),
        ("DATABASE_URL", "postgres://localhost:5432/" + "shop_development"),
    ),
    Rule(
        "production-environment",
        WARNING,
        "the app, framework or a payment SDK is told to run against production (an error "
        "when the file also holds a credential)",
        _production_selector,
        ("NODE_ENV", "production"),
        ("SHOW_PRODUCTION_BANNER", "false"),
        "environment",
    ),
)


def _commented_credential(key: str, value: str) -> bool:
    """A commented-out KEY=value whose value a credential rule flags."""
    return key.startswith("#") and _credential_in(value) is not None


def _credential_in(value: str) -> Rule | None:
    """The first credential rule a commented-out value breaks (rules that read the key name
    see none: a comment's key is read by nothing)."""
    for rule in RULES:
        if rule.kind == "credential" and rule.matches("", value):
            return rule
    return None


COMMENTED_OUT = Rule(
    "commented-out",
    WARNING,
    "a credential in a commented-out line (no loader reads it, but every slot's agent can)",
    _commented_credential,
    ("# STRIPE_SECRET_KEY", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
    ("# NODE_ENV", "production"),
    "comment",
)

RULES = (*RULES, COMMENTED_OUT, TOO_LONG)  # TOO_LONG last: scan_text adds it beside any other


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

    def named(self) -> str:
        """`KEY: what (preview)`: how a refusal or a warning names it, never its value."""
        return f"{self.key}: {self.rule.what} ({self.preview})"

    def as_finding(self) -> dict[str, str]:
        """What a refusal's details list for it."""
        return {"key": self.key, "rule": self.rule.id, "fingerprint": self.fingerprint}


def fingerprint(key: str, value: str) -> str:
    """A stable id for a finding that never reveals the value."""
    return "sha256:" + hashlib.sha256(f"{key}={value}".encode()).hexdigest()[:16]


def preview(value: str) -> str:
    """Enough to recognise a value (at most its first 4 characters), never enough to use it."""
    shown = value[: min(4, len(value) // 4)]
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
        if rule.kind in ("limit", "comment") or not rule.matches(key, judged):
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
            # Like any part of a value, the host shows no more than its first 4 characters.
            detail = f"host {preview(_production_host_in(judged) or '')}"
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
    hits.extend(_commented_out(text, file, allowed))
    hits.sort(key=lambda hit: hit.line)
    return _selectors_beside_credentials(hits)


_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _commented_out(text: str, file: Path, allowed: set[str]) -> Iterator[Hit]:
    """Comment lines holding a credential, commented-out `# KEY=value` or pasted into a note:
    dotenv readers skip them, but the key is in the file every slot reads. One bounded look
    per line."""
    for number, raw in enumerate(text.split("\n"), 1):
        line = raw.lstrip()
        if not line.startswith("#"):
            continue
        if line[: VALUE_LIMIT + KEY_WINDOW].rstrip().endswith(ALLOW_MARKER):
            continue
        body = line[: VALUE_LIMIT + KEY_WINDOW].lstrip("#").lstrip()
        match = _KEY_PREFIX.match(body, 0, KEY_WINDOW)
        if match and _ENV_KEY.fullmatch(match.group(1)):
            key = match.group(1)
            value = _unquoted(body[match.end() :].partition(" #")[0].rstrip("\r"))
        else:  # prose: a key pasted into a note is in the file all the same
            key, value = "", body.rstrip("\r")
        mark = fingerprint(key, value)
        if not value or key in allowed or mark in allowed:
            continue
        inner = _credential_in(value)
        if inner is not None:
            yield Hit(file, number, key, COMMENTED_OUT, WARNING, preview(value), mark, inner.what)


def _selectors_beside_credentials(hits: list[Hit]) -> list[Hit]:
    """A production selector (NODE_ENV=production) is a warning alone, and an error in a
    file that also holds a credential or a production host: together they reach production."""
    found = next((h for h in hits if h.rule.kind in ("credential", "host")), None)
    if found is None:
        return hits
    also = f"the same file holds a credential (line {found.line})"
    return [
        replace(h, level=ERROR, detail=", ".join(filter(None, [h.detail, also])))
        if h.rule.kind == "environment"
        else h
        for h in hits
    ]
