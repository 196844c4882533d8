"""grove claims [list | renew [N... | --all] | drop BRANCH [--force]]: the team's claims on
the git remote."""

from __future__ import annotations

import time
from typing import Any

from grove import output
from grove.lifecycle import claims
from grove.record import field, record
from grove.slots import Grove, targets


def _age(seconds: float) -> str:
    """Rounded to the nearest unit (a fresh 8h claim expires in 8h), never negative."""
    return output.duration(max(0.0, seconds), nearest=True)


@record
class ListResult:
    remote: str
    claims: list[dict[str, Any]]
    now: float

    def as_json(self) -> dict[str, Any]:
        return {"remote": self.remote, "claims": self.claims}

    def as_text(self) -> str:
        if not self.claims:
            return f"no claims on {self.remote}"
        rows = []
        for c in self.claims:
            if c["expires"] is None:
                state = "no expiry"
            elif c["expired"]:
                state = f"expired {_age(self.now - c['expires'])} ago"
            else:
                state = f"expires in {_age(c['expires'] - self.now)}"
            rows.append(
                [
                    c["branch"],
                    c["holder"] or "unlabelled",
                    f"{c['user']}@{c['host']}",
                    "-" if c["slot"] is None else c["slot"],
                    _age(self.now - c["since"]),
                    state,
                    "" if c["mine"] is None else f"slot {c['mine']}",
                ]
            )
        headers = ["branch", "holder", "user@host", "slot", "age", "state", "here"]
        return output.table(headers, rows) + f"\nremote: {self.remote}"


def run(grove: Grove) -> ListResult:
    now = time.time()
    remote, found = claims.listing(grove)
    mine = claims.held_by_slot(grove)
    rows = [{**c.as_json(now), "mine": mine.get(c.sha)} for c in found]
    return ListResult(remote, rows, now)


@record
class RenewResult:
    slots: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(not row["renewed"] for row in self.slots)

    def as_json(self) -> dict[str, Any]:
        return {"slots": self.slots}

    def as_text(self) -> str:
        lines = []
        for row in self.slots:
            if row["renewed"]:
                until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row["expires"]))
                lines.append(f"slot {row['slot']}: claim on {row['branch']} renewed until {until}")
            else:
                lines.append(f"slot {row['slot']}: not renewed: {row['reason']}")
        return "\n".join(lines)


def renew(grove: Grove, numbers: list[int], all_slots: bool) -> RenewResult:
    result = RenewResult()
    for n in targets(grove, numbers, all_slots):
        renewed = claims.renew_slot(grove, n, force=True)
        if renewed is None:
            if not all_slots:
                renewed = {"slot": n, "branch": None, "renewed": False, "reason": "no claim"}
            else:
                continue
        result.slots.append(renewed)
    return result


@record
class DropResult:
    branch: str
    remote: str
    dropped: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"branch": self.branch, "remote": self.remote, "dropped": self.dropped}

    def as_text(self) -> str:
        d = self.dropped
        who = f"{d['holder'] or 'unlabelled'}, {d['user']}@{d['host']}"
        return f"dropped the claim on {self.branch} ({who})"


def drop(grove: Grove, branch: str, force: bool) -> DropResult:
    done = claims.drop(grove, branch, force)
    return DropResult(done["branch"], done["remote"], done["dropped"])
