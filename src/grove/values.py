"""Values that embed a port or refer to another variable: `http://localhost:3000`,
`${DB_PORT}`. A module of its own because every command that computes a slot's environment
rewrites such values, and none of them needs the rest of `detect`'s repository scan."""

from __future__ import annotations

import re
from collections.abc import Callable

# Patterns compiled on first use (re caches them): a config without such values never
# compiles them.
_EMBEDDED = r"(?P<host>localhost|127\.0\.0\.1|0\.0\.0\.0)(?P<colon>:)(?P<port>\d{2,5})(?![\d])"
VAR_REF = (
    r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<op>:?-)?(?P<default>[^}]*)\}|\$(?P<bare>[A-Z_][A-Z0-9_]*)"
)
# Past a value's last "}" no ${...} can close, so only $VAR can match there: VAR_REF
# alone rescans to the end from every unclosed "${" (a 128 KiB value of "${A" took 46 s).
_BARE_REF = r"\$(?P<bare>[A-Z_][A-Z0-9_]*)"


def embedded_ports(value: str) -> list[int]:
    """Ports in localhost URLs or host:port values (`http://localhost:3000`, `localhost:5432`)."""
    return [int(m.group("port")) for m in re.finditer(_EMBEDDED, value)]


def _ref_name(match: re.Match[str]) -> str:
    return match.groupdict().get("name") or match.group("bare")


def _sub_refs(replace: Callable[[re.Match[str]], str], value: str) -> str:
    """re.sub(VAR_REF, replace, value), in linear time (see _BARE_REF)."""
    cut = value.rfind("}") + 1
    return re.sub(VAR_REF, replace, value[:cut]) + re.sub(_BARE_REF, replace, value[cut:])


def var_refs(value: str) -> list[str]:
    cut = value.rfind("}") + 1  # see _BARE_REF
    found = [*re.finditer(VAR_REF, value[:cut]), *re.finditer(_BARE_REF, value[cut:])]
    return [_ref_name(m) for m in found]


def rewrite_value(
    value: str, base: int | None, port: int | None, host: str | None, refs: dict[str, str]
) -> str:
    """The slot's version of a shared value: the table port (and host) swapped in, `${VAR}`
    references to grove's own values expanded. Everything else (user, password, path,
    query) stays as the shared file has it."""

    def swap(match: re.Match[str]) -> str:
        if base is None or int(match.group("port")) != base or port is None:
            return match.group(0)
        return f"{host or match.group('host')}:{port}"

    def expand(match: re.Match[str]) -> str:
        return refs.get(_ref_name(match), match.group(0))

    return _sub_refs(expand, re.sub(_EMBEDDED, swap, value))
