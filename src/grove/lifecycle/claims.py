"""Claims in a slot's life: a take claims its branch on the team's remote before anything
local changes, release ends the claim, and the holder's work renews it (take, refresh, up,
`grove claims renew`).

Only take and `grove claims` fail when the remote does not answer: a claim exists so that
two machines do not hand out one branch, and a take that cannot ask must not guess. Every
other command goes on, and says on stderr what happened to the claim.
"""

from __future__ import annotations

import time
from typing import Any

from grove import output
from grove.errors import Claimed, GroveError
from grove.slots import Grove
from grove.state import claims
from grove.state.claims import Held

# refresh and up renew a claim once a quarter of its time has passed since the last
# renewal: an agent calls `grove up` at every step, and most calls then push nothing.
RENEW_AFTER = 0.25


def team_remote(grove: Grove, asked: bool) -> tuple[str, float] | None:
    """The remote and claim lifetime a take uses: [team]'s, or with --claim alone origin
    and the default lifetime; None when the take claims nothing."""
    team = grove.config.team
    if team is not None:
        return team.remote, team.claim_ttl
    if asked:
        return claims.DEFAULT_REMOTE, claims.DEFAULT_TTL
    return None


def claim_for_take(
    grove: Grove,
    branch: str,
    label: str,
    remote: str,
    *,
    ttl: float,
    slot: int | None = None,
    now: float | None = None,
) -> Held:
    """Claim branch before the take changes anything: refused (exit 1) when another holder
    has it, an error when the remote does not answer. slot: the one the take expects."""
    now = time.time() if now is None else now
    holder = claims.Holder.here(label)
    acquired = claims.acquire(grove.main, remote, branch, holder, ttl=ttl, now=now, slot=slot)
    if acquired.took_over is not None:
        output.narrate(
            f"claimed {branch} on {remote}, taking over the expired claim of "
            f"{acquired.took_over.who()}"
        )
    return Held(remote, ttl, acquired.claim)


def settle(grove: Grove, n: int, held: Held, now: float | None = None) -> Held:
    """The take has its slot and this clone records the claim. The claim already names the
    slot when the take got the one it expected; otherwise it is renewed naming it."""
    now = time.time() if now is None else now
    claim = held.claim
    try:
        if claim.slot != n:
            claim = claims.renew(grove.main, held.remote, claim, n, ttl=held.ttl, now=now)
    except GroveError as exc:
        output.narrate(f"the claim on {claim.branch} does not name slot {n}: {exc.message}")
    settled = Held(held.remote, held.ttl, claim)
    claims.write_held(grove.state_dir, n, settled)
    return settled


def undo(grove: Grove, held: Held) -> None:
    """A take that failed after claiming gives the claim back (best effort: a claim left
    behind expires)."""
    try:
        claims.drop(grove.main, held.remote, held.claim.branch, held.claim.sha)
    except GroveError as exc:
        output.narrate(
            f"the claim on {held.claim.branch} stays on {held.remote} until it expires: "
            f"{exc.message}"
        )


def end(grove: Grove, n: int) -> dict[str, Any] | None:
    """Release: slot n's claim is deleted on the remote, expecting the value this clone
    pushed last. A remote that does not answer does not stop the release."""
    if not claims.held_path(grove.state_dir, n).exists():
        return None
    held = claims.read_held(grove.state_dir, n)
    if held is None:
        return None
    try:
        dropped = claims.drop(grove.main, held.remote, held.claim.branch, held.claim.sha)
        if not dropped:
            output.narrate(
                f"the claim on {held.claim.branch} had changed on {held.remote}; left as it is"
            )
    except GroveError as exc:
        dropped = False
        output.narrate(
            f"the claim on {held.claim.branch} stays on {held.remote} until it expires "
            f"(`grove claims drop {held.claim.branch}` ends it later): {exc.message}"
        )
    claims.forget_held(grove.state_dir, n)
    return {"branch": held.claim.branch, "remote": held.remote, "released": dropped}


def renew_slot(
    grove: Grove, n: int, *, force: bool = False, now: float | None = None
) -> dict[str, Any] | None:
    """Renew slot n's claim when it is due (always with force). None when the slot holds
    no claim or it is not due; otherwise what happened. Never raises for the remote."""
    if not claims.held_path(grove.state_dir, n).exists():
        return None  # the common case: one stat, no network
    held = claims.read_held(grove.state_dir, n)
    if held is None:
        return None
    now = time.time() if now is None else now
    if not force and now - held.claim.renewed < held.ttl * RENEW_AFTER:
        return None
    branch = held.claim.branch
    try:
        claim = claims.renew(grove.main, held.remote, held.claim, n, ttl=held.ttl, now=now)
    except Claimed as exc:
        again = claims.read_held(grove.state_dir, n)
        if again is not None and again.claim.sha != held.claim.sha:
            return None  # another grove command renewed it meanwhile
        claims.forget_held(grove.state_dir, n)
        output.narrate(f"slot {n} lost its claim on {branch}: {exc.message}")
        return {"slot": n, "branch": branch, "renewed": False, "reason": exc.message}
    except GroveError as exc:
        output.narrate(f"slot {n}'s claim on {branch} was not renewed: {exc.message}")
        return {"slot": n, "branch": branch, "renewed": False, "reason": exc.message}
    claims.write_held(grove.state_dir, n, Held(held.remote, held.ttl, claim))
    return {"slot": n, "branch": branch, "renewed": True, "expires": claim.expires}


def held_by_slot(grove: Grove) -> dict[str, int]:
    """The claims this clone holds: their commit, and the slot holding each."""
    folder = grove.state_dir / "claims"
    found: dict[str, int] = {}
    if not folder.is_dir():
        return found
    for path in folder.glob("*.json"):
        if path.stem.isdigit():
            held = claims.read_held(grove.state_dir, int(path.stem))
            if held is not None:
                found[held.claim.sha] = int(path.stem)
    return found


def listing(grove: Grove) -> tuple[str, list[claims.Claim]]:
    """The remote's claims now, fetched (one round trip), by branch."""
    remote, _ = team_remote(grove, asked=True) or (claims.DEFAULT_REMOTE, claims.DEFAULT_TTL)
    found = claims.fetch(grove.main, remote)
    return remote, [found[branch] for branch in sorted(found)]


def others_claims(grove: Grove) -> dict[str, claims.Claim]:
    """For `grove list`: the live claims on branches, as last fetched (no network), that are
    not this clone's own."""
    mine = held_by_slot(grove)
    now = time.time()
    return {
        branch: claim
        for branch, claim in claims.known(grove.main).items()
        if claim.sha not in mine and not claim.expired(now)
    }


def drop(grove: Grove, branch: str, force: bool) -> dict[str, Any]:
    """End a claim by hand (one a crashed take left, or an abandoned one). Without force,
    only this clone's own, one of this user on this host, or an expired one."""
    from grove.errors import Refused

    remote, _ = team_remote(grove, asked=True) or (claims.DEFAULT_REMOTE, claims.DEFAULT_TTL)
    claims.claim_ref(branch)
    current = claims.fetch(grove.main, remote).get(branch)
    if current is None:
        raise Refused(f"no claim on {branch!r} on {remote!r}", hint="`grove claims` lists them")
    mine = held_by_slot(grove)
    here = claims.Holder.here("")
    own = current.sha in mine or (current.user, current.host) == (here.user, here.host)
    now = time.time()
    if not (force or own or current.expired(now)):
        raise Refused(
            f"the claim on {branch!r} is {current.who()}'s and has not expired",
            hint=f"ask its holder to release it, or `grove claims drop {branch} --force`",
            details={"claim": current.as_json(now)},
        )
    if not claims.drop(grove.main, remote, branch, current.sha):
        raise Claimed(
            f"the claim on {branch!r} changed on {remote!r} while grove dropped it",
            hint="`grove claims` shows it now",
        )
    if current.sha in mine:
        claims.forget_held(grove.state_dir, mine[current.sha])
    return {"branch": branch, "remote": remote, "dropped": current.as_json(now)}
