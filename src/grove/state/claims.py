"""Claims: a lease on a branch, shared by every machine of a team through the git remote.

A claim is the ref `refs/grove/claims/<branch>` on the remote, pointing at a parentless
commit of the empty tree whose message says who holds it, from which host and slot, since
when and until when. Every change is a push with an expected old value (git's
`--force-with-lease=REF:EXPECTED`, an empty EXPECTED meaning "must not exist"): the remote
compares under its ref lock, so of many machines racing for one branch exactly one wins.

Local knowledge, for commands that must not wait for the network:
- `refs/grove/remote-claims/<branch>`: the remote's claims as last fetched (`grove
  claims`), kept up to date with this clone's own pushes;
- `.git/grove/claims/<slot>.json`: the claim this clone holds for a slot (remote, branch,
  the commit it last pushed), so release and renewals know the value to expect.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from pathlib import Path
from typing import Any

from grove import git
from grove.errors import Claimed, RemoteUnreachable, UsageError
from grove.record import asdict, record
from grove.state import store

CLAIMS = "refs/grove/claims"
MIRROR = "refs/grove/remote-claims"
DEFAULT_REMOTE = "origin"
DEFAULT_TTL = 8 * 3600.0
MAX_FIELD = 100  # a label or host name longer than this is cut in the message
ATTEMPTS = 3  # pushes one acquire tries while the claim changes hands under it
FETCH_ATTEMPTS = 4
NEVER = float("inf")


def claim_ref(branch: str) -> str:
    """The claim's ref for branch, after git's check-ref-format rules (checked here, before
    the name reaches any command): the name comes from a user or an agent."""
    bad = (
        not branch
        or branch.startswith(("-", "/"))
        or branch.endswith(("/", "."))
        or branch == "@"
        or any(p.startswith(".") or p.endswith(".lock") or not p for p in branch.split("/"))
        or ".." in branch
        or "@{" in branch
        or any(ord(c) < 0x20 or ord(c) == 0x7F or c in " ~^:?*[\\" for c in branch)
    )
    if bad:
        raise UsageError(
            f"{branch!r} is not a valid branch name to claim",
            hint="branch names follow `git check-ref-format --branch`",
        )
    return f"{CLAIMS}/{branch}"


@record(frozen=True)
class Holder:
    """Who claims: the take's label, the user and the host (no path, no e-mail)."""

    label: str
    user: str
    host: str

    @classmethod
    def here(cls, label: str) -> Holder:
        user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
        if not user:
            import pwd

            try:
                user = pwd.getpwuid(os.geteuid()).pw_name
            except KeyError:
                user = str(os.geteuid())
        return cls(_one_line(label), _one_line(user), _one_line(os.uname().nodename))


def _one_line(text: str) -> str:
    """A value as one short line: a newline in a label must not forge another field."""
    flat = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text).strip()
    return flat[:MAX_FIELD]


@record(frozen=True)
class Claim:
    branch: str
    sha: str
    holder: str  # the take's label; "" when it had none
    user: str
    host: str
    slot: int | None  # None until the take that claimed it has chosen a slot
    since: float
    renewed: float
    expires: float  # NEVER when the message does not say (a ref grove did not write)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def who(self) -> str:
        where = f"{self.user}@{self.host}" if self.user or self.host else "unknown host"
        slot = f", slot {self.slot}" if self.slot is not None else ""
        return f"{self.holder or 'unlabelled'} ({where}{slot})"

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "sha": self.sha,
            "holder": self.holder,
            "user": self.user,
            "host": self.host,
            "slot": self.slot,
            "since": self.since,
            "since_iso": _iso(self.since),
            "renewed": self.renewed,
            "age_seconds": round(max(0.0, now - self.since), 1),
            "expires": None if self.expires == NEVER else self.expires,
            "expires_iso": None if self.expires == NEVER else _iso(self.expires),
            "expired": self.expired(now),
        }


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def message(
    branch: str, holder: Holder, slot: int | None, *, since: float, renewed: float, expires: float
) -> str:
    def stamp(when: float) -> str:
        return f"{int(when)} ({_iso(when)})"

    return (
        f"grove claim on {_one_line(branch)}\n\n"
        f"holder: {holder.label}\n"
        f"user: {holder.user}\n"
        f"host: {holder.host}\n"
        f"slot: {'-' if slot is None else slot}\n"
        f"since: {stamp(since)}\n"
        f"renewed: {stamp(renewed)}\n"
        f"expires: {stamp(expires)}\n"
    )


def parse(branch: str, sha: str, text: str) -> Claim:
    """A claim from its commit message. The remote is shared, so the text may come from
    anyone: fields are read leniently, each to one short line, and a claim whose expiry
    does not read never expires (only its holder or `grove claims drop --force` ends it)."""
    fields: dict[str, str] = {}
    for line in text.splitlines()[1:50]:
        key, sep, value = line.partition(": ")
        if sep and key in ("holder", "user", "host", "slot", "since", "renewed", "expires"):
            fields.setdefault(key, _one_line(value))

    def when(key: str, default: float) -> float:
        try:
            value = float(fields.get(key, "").split(" ", 1)[0])
        except ValueError:
            return default
        return default if math.isnan(value) else value

    slot_text = fields.get("slot", "-")
    since = when("since", 0.0)
    return Claim(
        branch=branch,
        sha=sha,
        holder=fields.get("holder", ""),
        user=fields.get("user", ""),
        host=fields.get("host", ""),
        slot=int(slot_text) if slot_text.isdigit() and len(slot_text) < 6 else None,
        since=since,
        renewed=when("renewed", since),
        expires=when("expires", NEVER),
    )


def _unreachable(remote: str, reason: str) -> RemoteUnreachable:
    return RemoteUnreachable(
        f"cannot reach the git remote {remote!r} for claims: {reason}",
        hint="check the remote ([team] remote in grove.toml, `git remote -v`) and the network;"
        " without [team] and --claim, grove works on this machine alone",
        details={"remote": remote, "reason": reason},
    )


def _write(
    repo: Path,
    branch: str,
    holder: Holder,
    slot: int | None,
    *,
    since: float,
    now: float,
    ttl: float,
) -> Claim:
    # Whole seconds, as the message holds them: the record and the remote agree.
    since, now = float(int(since)), float(int(now))
    expires = float(int(now + ttl))
    text = message(branch, holder, slot, since=since, renewed=now, expires=expires)
    sha = git.commit_message_only(repo, text, now)
    return Claim(branch, sha, holder.label, holder.user, holder.host, slot, since, now, expires)


@record(frozen=True)
class Acquired:
    claim: Claim
    took_over: Claim | None = None  # the expired claim this one replaced


def acquire(
    repo: Path,
    remote: str,
    branch: str,
    holder: Holder,
    *,
    ttl: float,
    now: float,
    slot: int | None = None,
) -> Acquired:
    """Claim branch on remote: create the ref if it does not exist, or replace a claim
    that has expired, each a compare-and-swap. A live claim is refused, naming its holder.
    slot: the one the claim names (the slot the take expects to get, if it knows)."""
    ref = claim_ref(branch)
    expected: Claim | None = None
    reason = ""
    for _ in range(ATTEMPTS):
        claim = _write(repo, branch, holder, slot, since=now, now=now, ttl=ttl)
        outcome = git.push_lease(repo, remote, ref, claim.sha, expected.sha if expected else None)
        if outcome.done:
            _mirror(repo, branch, claim.sha)
            return Acquired(claim, expected)
        if not outcome.rejected:
            raise _unreachable(remote, outcome.reason)
        reason = outcome.reason
        try:
            current = fetch(repo, remote).get(branch)
        except RemoteUnreachable as exc:
            # The push was judged, so the claim exists; only who holds it is unknown.
            raise Claimed(
                f"branch {branch!r} is claimed on {remote!r} ({outcome.reason}); "
                f"grove could not read by whom: {exc.details.get('reason', exc.message)}",
                hint="`grove claims` lists every claim",
            ) from None
        if current is None:
            expected = None  # released meanwhile: try to create it again
            continue
        if not current.expired(now):
            raise Claimed(
                f"branch {branch!r} is claimed on {remote!r} by {current.who()}, "
                f"since {_iso(current.since)}",
                hint="pick another branch, or ask its holder to `grove release`; "
                "`grove claims` lists every claim",
                details={"claim": current.as_json(now)},
            )
        expected = current
    # Rejected each time, though no claim of that name was there, or each time a different
    # one: the claim changed hands under every try, or the remote refuses the ref itself
    # (a claim on "a" keeps "a/b" from existing, as with branches).
    raise Claimed(
        f"branch {branch!r} could not be claimed on {remote!r}: {reason}",
        hint="run the take again; `grove claims` lists the claims (one on `a` blocks one on `a/b`)",
    )


def renew(
    repo: Path, remote: str, claim: Claim, slot: int | None, *, ttl: float, now: float
) -> Claim:
    """Push a fresh expiry (and the slot) over this clone's own claim, expecting the commit
    it pushed last. Claimed when the claim is no longer that commit (it expired and another
    holder took it over, or someone dropped it)."""
    holder = Holder(claim.holder, claim.user, claim.host)
    fresh = _write(repo, claim.branch, holder, slot, since=claim.since, now=now, ttl=ttl)
    outcome = git.push_lease(repo, remote, claim_ref(claim.branch), fresh.sha, claim.sha)
    if outcome.done:
        _mirror(repo, claim.branch, fresh.sha)
        return fresh
    if not outcome.rejected:
        raise _unreachable(remote, outcome.reason)
    raise Claimed(
        f"the claim on {claim.branch!r} is no longer this clone's: it changed on {remote!r}",
        hint="`grove claims` shows who holds it now",
    )


def drop(repo: Path, remote: str, branch: str, sha: str) -> bool:
    """Delete the claim if it still is sha; False when it was not (someone else's now, or
    gone)."""
    outcome = git.push_lease(repo, remote, claim_ref(branch), None, sha)
    if outcome.done:
        _mirror(repo, branch, None)
        return True
    if not outcome.rejected:
        raise _unreachable(remote, outcome.reason)
    return False


def fetch(repo: Path, remote: str) -> dict[str, Claim]:
    """The remote's claims now: fetched into the local mirror (one round trip), then read.
    Tried again briefly when it fails: two commands of one clone fetching at once can meet
    on a mirror ref's lock."""
    attempt = 0
    while (failed := git.fetch_mirror(repo, remote, CLAIMS, MIRROR)) is not None:
        attempt += 1
        if "lock" not in failed or attempt == FETCH_ATTEMPTS:
            raise _unreachable(remote, failed)
        time.sleep(0.05 * attempt)
    return known(repo)


def known(repo: Path) -> dict[str, Claim]:
    """The remote's claims as last seen (no network): the mirror refs."""
    found: dict[str, Claim] = {}
    for entry in git.ref_messages(repo, MIRROR):
        branch = entry.ref.removeprefix(MIRROR + "/")
        found[branch] = parse(branch, entry.sha, entry.message)
    return found


def _mirror(repo: Path, branch: str, sha: str | None) -> None:
    """This clone's own push, reflected in its mirror, so `grove list` knows it without a
    fetch. A failure here loses nothing: the next fetch writes the mirror again."""
    from grove.errors import GitError

    with contextlib.suppress(GitError):
        git.set_ref(repo, f"{MIRROR}/{branch}", sha)


# This clone's own claims, one per slot.


@record(frozen=True)
class Held:
    """The claim this clone holds for a slot: enough to renew and end it."""

    remote: str
    ttl: float
    claim: Claim


def held_path(state_dir: Path, n: int) -> Path:
    return state_dir / "claims" / f"{n}.json"


def _repair(state_dir: Path, n: int) -> str:
    return (
        f"delete {held_path(state_dir, n)} (the remote's claim then expires, or "
        "`grove claims drop BRANCH` ends it now)"
    )


def read_held(state_dir: Path, n: int) -> Held | None:
    def parse_held(data: Any) -> Held:
        if not isinstance(data, dict) or not isinstance(data.get("claim"), dict):
            raise TypeError("expected an object with a claim")
        body = data["claim"]
        slot = body.get("slot")
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int)):
            raise TypeError("slot must be a number")
        texts = [body[k] for k in ("branch", "sha", "holder", "user", "host")]
        numbers = [body[k] for k in ("since", "renewed", "expires")]
        if not all(isinstance(t, str) for t in [*texts, data["remote"]]):
            raise TypeError("branch, sha, holder, user, host and remote must be text")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise TypeError("since, renewed and expires must be numbers")
        ttl = data["ttl"]
        if isinstance(ttl, bool) or not isinstance(ttl, int | float):
            raise TypeError("ttl must be a number")
        since, renewed, expires = (float(v) for v in numbers)
        branch, sha, holder, user, host = texts
        claim = Claim(branch, sha, holder, user, host, slot, since, renewed, expires)
        return Held(data["remote"], float(ttl), claim)

    return store.read_record(held_path(state_dir, n), _repair(state_dir, n), parse_held)


def write_held(state_dir: Path, n: int, held: Held) -> None:
    store.write_json(
        held_path(state_dir, n),
        {"remote": held.remote, "ttl": held.ttl, "claim": asdict(held.claim)},
    )


def forget_held(state_dir: Path, n: int) -> None:
    store.remove(held_path(state_dir, n))
