"""Claims on the git remote (issue 18): a bare repository on this machine is the team's
remote, and clones of it are the team's machines. Every claim change is a real push."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import git, grove_process, logging_git, tree_snapshot, write_config
from grove.errors import Claimed, RemoteUnreachable, UsageError
from grove.lifecycle import claims as slot_claims
from grove.record import asdict
from grove.slots import open_grove
from grove.state import claims

TEAM = '[grove]\nslots = 3\n[team]\nremote = "origin"\nclaim_ttl = "2h"\n'


class Team:
    """The remote, the first machine's main checkout, and a way to add more machines."""

    def __init__(self, root: Path, remote: Path, main: Path):
        self.root = root
        self.remote = remote
        self.main = main

    def clone(self, name: str) -> Path:
        # Each machine in its own folder: slots are siblings of their main checkout.
        target = self.root / name / "proj"
        target.parent.mkdir(parents=True)
        git(self.root, "clone", "-q", "-b", "main", str(self.remote), str(target))
        (target / ".env").write_text("FEATURE_X=on\n")
        return target

    def claim_refs(self) -> dict[str, str]:
        out = git(self.remote, "for-each-ref", "--format=%(refname) %(objectname)")
        refs = dict(line.split(" ")[::-1] for line in out.splitlines())
        return {
            ref.removeprefix("refs/grove/claims/"): sha
            for sha, ref in refs.items()
            if ref.startswith("refs/grove/claims/")
        }

    def message(self, branch: str) -> str:
        return git(self.remote, "log", "-1", "--format=%B", f"refs/grove/claims/{branch}")


@pytest.fixture
def team(tmp_path: Path, repo: Path) -> Team:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    write_config(repo, TEAM)
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return Team(tmp_path, remote, repo)


def test_a_take_claims_its_branch_and_release_ends_the_claim(team: Team, grove) -> None:
    taken = grove("take", "--branch", "task-a", "--label", "alice", "--json")
    assert taken.code == 0, taken.out
    claim = taken.json["claim"]
    assert (claim["branch"], claim["holder"], claim["slot"]) == ("task-a", "alice", 1)
    assert team.claim_refs() == {"task-a": claim["sha"]}
    text = team.message("task-a")
    for line in ("holder: alice", "slot: 1", f"host: {os.uname().nodename}", "expires: "):
        assert line in text
    assert claim["expires"] - claim["renewed"] == 2 * 3600

    released = grove("release", "1", "--label", "alice", "--json")
    assert released.code == 0, released.out
    assert released.json["released"][0]["claim"] == {
        "branch": "task-a",
        "remote": "origin",
        "released": True,
    }
    assert team.claim_refs() == {}
    # The slot is warm again, and its next take claims afresh.
    again = grove("take", "--branch", "task-a", "--label", "bob", "--json")
    assert again.code == 0, again.out
    assert again.json["slot"] == 1
    assert again.json["claim"]["holder"] == "bob"


def test_a_claim_held_elsewhere_is_refused_naming_it_and_nothing_local_changes(
    team: Team, grove
) -> None:
    assert grove("take", "--branch", "task-a", "--label", "alice").code == 0
    other = team.clone("laptop")
    # The other machine has a warm, free slot (and so a state dir) a take would reuse.
    assert grove("take", "--branch", "warmup", "--label", "bob", cwd=other).code == 0
    assert grove("release", "1", "--label", "bob", cwd=other).code == 0
    slot_dir = other.parent / "proj-wt1"
    before = tree_snapshot(other / ".git" / "grove", slot_dir)
    worktrees = git(other, "worktree", "list", "--porcelain")
    head = git(slot_dir, "rev-parse", "HEAD")

    refused = grove("take", "--branch", "task-a", "--label", "bob", "--json", cwd=other)
    assert refused.code == 1
    error = refused.json["error"]
    assert error["code"] == "claimed"
    assert "alice" in error["message"] and "task-a" in error["message"]
    assert error["claim"]["holder"] == "alice"
    assert tree_snapshot(other / ".git" / "grove", slot_dir) == before
    assert git(other, "worktree", "list", "--porcelain") == worktrees
    assert git(slot_dir, "rev-parse", "HEAD") == head
    assert not git(other, "branch", "--list", "task-a").strip()

    text = grove("take", "--branch", "task-a", cwd=other)
    assert text.code == 1
    assert "claimed on 'origin' by alice" in text.err
    assert team.claim_refs().keys() == {"task-a"}


def race(clones: list[Path], branch: str, per_clone: int) -> list[object]:
    """per_clone claims of branch from each clone at once (threads start together)."""
    start = threading.Barrier(len(clones) * per_clone)
    results: list[object] = []
    lock = threading.Lock()

    def one(clone: Path, k: int) -> None:
        holder = claims.Holder(f"{clone.parent.name}-{k}", "tester", clone.parent.name)
        start.wait()
        try:
            got: object = claims.acquire(
                clone, "origin", branch, holder, ttl=3600, now=time.time()
            ).claim
        except (Claimed, RemoteUnreachable) as exc:
            got = exc
        with lock:
            results.append(got)

    threads = [
        threading.Thread(target=one, args=(clone, k)) for clone in clones for k in range(per_clone)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_24_concurrent_claims_from_3_clones_have_exactly_one_winner(team: Team) -> None:
    clones = [team.main, team.clone("vm"), team.clone("laptop")]
    for round_ in range(12):  # the issue measured 20 rounds of 24; 12 keep the suite quick
        branch = f"race-{round_}"
        results = race(clones, branch, per_clone=8)
        winners = [r for r in results if isinstance(r, claims.Claim)]
        losers = [r for r in results if isinstance(r, Claimed)]
        assert len(results) == 24
        assert len(winners) == 1, results
        assert len(losers) == 23, [r for r in results if not isinstance(r, claims.Claim)]
        assert team.claim_refs()[branch] == winners[0].sha
        # Every loser that could read the claim names the one winner.
        named = [e for e in losers if "claim" in e.details]
        assert all(e.details["claim"]["sha"] == winners[0].sha for e in named)


def test_concurrent_takes_with_claim_from_three_machines_give_one_slot(team: Team) -> None:
    clones = [team.main, team.clone("vm"), team.clone("laptop")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "grove",
                "take",
                "--branch",
                "hot",
                "--label",
                f"a{i}",
                "--json",
            ],
            cwd=clone,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, clone in enumerate(clones * 2)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in procs]
    assert sorted(code for code, _ in outcomes) == [0, 1, 1, 1, 1, 1], outcomes
    winner = next(json.loads(out) for code, out in outcomes if code == 0)
    assert team.claim_refs() == {"hot": winner["claim"]["sha"]}
    made = [c for c in clones if (c.parent / f"{c.name}-wt1").exists()]
    assert len(made) == 1
    assert Path(winner["path"]) == made[0].parent / f"{made[0].name}-wt1"


def test_an_expired_claim_is_taken_over_and_its_old_holder_learns_it(team: Team, grove) -> None:
    taken = grove("take", "--branch", "task-a", "--label", "alice", "--json")
    assert taken.code == 0
    # Alice's claim as it would be ten hours later with no renewal: written with an old
    # clock (the same compare-and-swap a renewal makes).
    old = claims.read_held(open_grove(team.main).state_dir, 1)
    assert old is not None
    stale = claims.renew(team.main, "origin", old.claim, 1, ttl=3600, now=time.time() - 10 * 3600)
    claims.write_held(open_grove(team.main).state_dir, 1, claims.Held("origin", 3600, stale))

    other = team.clone("laptop")
    took = grove("take", "--branch", "task-a", "--label", "bob", "--json", cwd=other)
    assert took.code == 0, took.out
    assert "taking over the expired claim of alice" in took.err
    assert team.claim_refs() == {"task-a": took.json["claim"]["sha"]}
    assert "holder: bob" in team.message("task-a")

    # Alice's next renewal is a compare-and-swap from her value, which is gone: she is told
    # and her slot forgets the claim; bob's stays.
    lost = slot_claims.renew_slot(open_grove(team.main), 1, force=True)
    assert lost is not None and lost["renewed"] is False
    assert "no longer this clone's" in lost["reason"]
    assert claims.read_held(open_grove(team.main).state_dir, 1) is None
    assert team.claim_refs() == {"task-a": took.json["claim"]["sha"]}
    # Her release then deletes nothing on the remote.
    assert grove("release", "1", "--label", "alice").code == 0
    assert team.claim_refs() == {"task-a": took.json["claim"]["sha"]}


def test_a_live_claim_is_not_taken_over(team: Team) -> None:
    holder = claims.Holder("carol", "carol", "elsewhere")
    claims.acquire(team.main, "origin", "task-c", holder, ttl=3600, now=time.time() - 3000)
    with pytest.raises(Claimed, match="carol"):
        claims.acquire(team.main, "origin", "task-c", holder, ttl=3600, now=time.time())
    # One second past its expiry it is free to take over.
    later = time.time() + 700
    got = claims.acquire(team.main, "origin", "task-c", holder, ttl=3600, now=later)
    assert got.took_over is not None and got.took_over.holder == "carol"


def test_renewal_pushes_a_fresh_expiry_over_the_old_value(team: Team, grove) -> None:
    taken = grove("take", "--branch", "task-a", "--label", "alice", "--json")
    first = taken.json["claim"]
    g = open_grove(team.main)
    # Due only once a quarter of the lifetime has passed: an agent's every `up` pushes nothing.
    assert slot_claims.renew_slot(g, 1, now=first["renewed"] + 60) is None
    later = first["renewed"] + 0.3 * 7200
    renewed = slot_claims.renew_slot(g, 1, now=later)
    assert renewed is not None and renewed["renewed"] is True
    assert renewed["expires"] == int(later) + 7200
    sha = team.claim_refs()["task-a"]
    assert sha != first["sha"]
    held = claims.read_held(g.state_dir, 1)
    assert held is not None and held.claim.sha == sha and held.claim.since == first["since"]
    assert "slot: 1" in team.message("task-a")

    # `grove claims renew` always pushes; `grove refresh` does too, and says so.
    out = grove("claims", "renew", "1", "--json")
    assert out.code == 0, out.out
    assert out.json["slots"][0]["renewed"] is True
    refreshed = grove("refresh", "1", "--json")
    assert refreshed.code == 0
    assert "slot 1: claim on task-a renewed" in refreshed.json["notes"]
    nothing = grove("claims", "renew", "2", "--json")
    assert nothing.code == 1
    assert nothing.json["slots"] == [
        {"slot": 2, "branch": None, "renewed": False, "reason": "no claim"}
    ]


def test_up_renews_a_due_claim(team: Team, grove) -> None:
    assert grove("take", "--branch", "task-a", "--label", "alice").code == 0
    g = open_grove(team.main)
    held = claims.read_held(g.state_dir, 1)
    assert held is not None
    # The record says the last renewal was an hour ago (the remote still holds its value).
    hour_ago = claims.Claim(**{**asdict(held.claim), "renewed": time.time() - 3600})
    claims.write_held(g.state_dir, 1, claims.Held(held.remote, held.ttl, hour_ago))
    started = time.time()
    assert grove("up", "1").code == 0  # no services: nothing starts, the claim is renewed
    after = claims.read_held(g.state_dir, 1)
    assert after is not None and after.claim.renewed >= int(started)
    assert team.claim_refs()["task-a"] == after.claim.sha
    # Renewed just now: the next `up` pushes nothing.
    assert slot_claims.renew_slot(g, 1) is None


def test_an_unreachable_remote_is_a_clear_error_for_a_claim_only(team: Team, grove) -> None:
    git(team.main, "remote", "add", "nowhere", str(team.root / "missing" / "remote.git"))
    write_config(team.main, TEAM.replace('"origin"', '"nowhere"'))
    state = team.main / ".git" / "grove"
    before = tree_snapshot(state) if state.exists() else {}
    failed = grove("take", "--branch", "task-a", "--json")
    assert failed.code == 1
    error = failed.json["error"]
    assert error["code"] == "remote-unreachable"
    assert "'nowhere'" in error["message"]
    assert "does not appear to be a git repository" in error["message"]
    assert "\n" not in error["message"]
    assert (tree_snapshot(state) if state.exists() else {}) == before
    assert not (team.main.parent / "myproject-wt1").exists()
    # Local-only commands still work with [team] configured, and a take without a branch
    # claims nothing.
    assert grove("list").code == 0
    assert grove("take", "--label", "detached").code == 0
    assert grove("claims").code == 1

    # Without [team], take --branch never touches the network.
    write_config(team.main, "[grove]\nslots = 3\n")
    git(team.main, "remote", "set-url", "origin", str(team.root / "missing" / "x.git"))
    assert grove("take", "--branch", "local-only").code == 0
    # ... and --claim alone asks origin.
    asked = grove("take", "--branch", "other", "--claim", "--json")
    assert asked.code == 1
    assert asked.json["error"]["code"] == "remote-unreachable"


def test_a_remote_that_hangs_is_given_up_on_after_the_timeout(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grove import git as grove_git

    git(team.main, "remote", "add", "slow", str(team.remote))
    # For a remote on disk git runs the receiving end through the shell: this one never answers.
    git(team.main, "config", "remote.slow.receivepack", "sleep 30 #")
    git(team.main, "config", "remote.slow.uploadpack", "sleep 30 #")
    monkeypatch.setattr(grove_git, "NETWORK_TIMEOUT", 0.5)
    holder = claims.Holder("alice", "alice", "here")
    started = time.monotonic()
    with pytest.raises(RemoteUnreachable, match=r"'slow'.*no answer within 0.5s"):
        claims.acquire(team.main, "slow", "task-a", holder, ttl=3600, now=time.time())
    with pytest.raises(RemoteUnreachable, match="no answer"):
        claims.fetch(team.main, "slow")
    assert time.monotonic() - started < 10
    assert team.claim_refs() == {}


def test_a_remote_that_goes_away_never_fails_refresh_or_release(team: Team, grove) -> None:
    assert grove("take", "--branch", "task-a", "--label", "alice").code == 0
    git(team.main, "remote", "set-url", "origin", str(team.root / "gone.git"))
    refreshed = grove("refresh", "1", "--json")
    assert refreshed.code == 0
    assert any("not renewed" in note for note in refreshed.json["notes"])
    released = grove("release", "1", "--label", "alice", "--json")
    assert released.code == 0
    assert released.json["released"][0]["claim"]["released"] is False
    assert "stays on origin until it expires" in released.err
    assert claims.read_held(open_grove(team.main).state_dir, 1) is None


def test_a_take_that_fails_after_claiming_gives_the_claim_back(team: Team, grove) -> None:
    write_config(team.main, TEAM.replace("slots = 3", "slots = 2"))
    git(team.main, "push", "-q", "origin", "main")
    assert grove("take", "--branch", "task-a", "--label", "alice").code == 0
    failed = grove("take", "--branch", "task-b", "--label", "bob", "--json")
    assert failed.code == 1
    assert failed.json["error"]["code"] == "no-free-slot"
    assert team.claim_refs().keys() == {"task-a"}


def test_claims_lists_the_remote_and_list_marks_another_holders_branch(team: Team, grove) -> None:
    assert grove("take", "--branch", "task-a", "--label", "alice").code == 0
    other = team.clone("laptop")
    listed = grove("claims", "--json", cwd=other)
    assert listed.code == 0, listed.out
    assert listed.json["remote"] == "origin"
    [row] = listed.json["claims"]
    assert (row["branch"], row["holder"], row["slot"], row["expired"]) == (
        "task-a",
        "alice",
        1,
        False,
    )
    assert row["host"] == os.uname().nodename and row["mine"] is None
    assert row["age_seconds"] >= 0
    text = grove("claims", cwd=other).out
    assert text.splitlines()[0].split() == [
        "branch",
        "holder",
        "user@host",
        "slot",
        "age",
        "state",
        "here",
    ]
    assert "task-a" in text and "alice" in text and "expires in" in text
    assert grove("claims", "--json").json["claims"][0]["mine"] == 1  # the holder's own view

    # A person on the other machine puts task-a on a slot (create claims nothing): list
    # marks it from the claims last fetched, without the network.
    git(other, "branch", "task-a")
    assert grove("create", "--branch", "task-a", cwd=other).code == 0
    rows = grove("list", "--json", cwd=other).json["slots"]
    assert rows[1]["branch"] == "task-a"
    assert rows[1]["claimed_by"]["holder"] == "alice"
    assert rows[0]["claimed_by"] is None
    assert "claimed by alice" in grove("list", cwd=other).out
    # The holder's own list marks nothing.
    assert all(r["claimed_by"] is None for r in grove("list", "--json").json["slots"])


def test_list_with_team_runs_one_local_git_call_more_and_no_network(
    team: Team, grove, tmp_path: Path
) -> None:
    assert grove("take", "--branch", "task-a").code == 0
    env, log = logging_git(tmp_path)
    assert grove_process("list", "--json", cwd=team.main, env=env).code == 0
    calls = log.read_text().splitlines()
    assert sum("for-each-ref" in line for line in calls) == 1
    assert not any(word in line for line in calls for word in ("fetch", "push", "ls-remote"))


def test_a_take_that_gets_the_slot_it_expected_pushes_once(
    team: Team, grove, tmp_path: Path
) -> None:
    """The claim names the slot the take expects (the lowest free one), so the common take
    makes one round trip to the remote; a take that ends elsewhere renews the claim."""
    assert grove("take", "--branch", "warm-up").code == 0  # slot 1 exists, warm
    assert grove("release", "1").code == 0
    env, log = logging_git(tmp_path)
    taken = grove_process("take", "--branch", "task-a", "--json", cwd=team.main, env=env)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 1 and taken.json["claim"]["slot"] == 1
    assert sum(" push " in f" {line} " for line in log.read_text().splitlines()) == 1
    assert "slot: 1" in team.message("task-a")
    # Slot 1 is held now: the next take expects slot 2, which does not exist yet, and makes it.
    log.unlink()
    second = grove_process("take", "--branch", "task-b", "--json", cwd=team.main, env=env)
    assert second.code == 0, second.err
    assert second.json["slot"] == 2 and "slot: 2" in team.message("task-b")
    assert sum(" push " in f" {line} " for line in log.read_text().splitlines()) == 1


def test_a_take_that_ends_in_another_slot_renews_its_claim_naming_it(
    team: Team, grove, tmp_path: Path
) -> None:
    assert grove("take", "--branch", "warm-up").code == 0
    assert grove("release", "1").code == 0
    (team.main.parent / f"{team.main.name}-wt1" / "notes.txt").write_text("work in progress\n")
    env, log = logging_git(tmp_path)  # slot 1 looks free but has work: the take skips it
    taken = grove_process("take", "--branch", "task-a", "--json", cwd=team.main, env=env)
    assert taken.code == 0, taken.err
    assert taken.json["slot"] == 2 and taken.json["claim"]["slot"] == 2
    assert "slot: 2" in team.message("task-a")
    assert sum(" push " in f" {line} " for line in log.read_text().splitlines()) == 2


def test_drop_ends_a_leftover_claim_and_refuses_another_holders_live_one(team: Team, grove) -> None:
    here = claims.Holder.here("")
    mine = claims.Holder("crashed", here.user, here.host)
    claims.acquire(team.main, "origin", "left", mine, ttl=3600, now=time.time())
    dropped = grove("claims", "drop", "left", "--json")
    assert dropped.code == 0, dropped.out
    assert dropped.json["dropped"]["holder"] == "crashed"
    theirs = claims.Holder("dave", "dave", "far-away")
    claims.acquire(team.main, "origin", "theirs", theirs, ttl=3600, now=time.time())
    refused = grove("claims", "drop", "theirs", "--json")
    assert refused.code == 1
    assert refused.json["error"]["code"] == "refused"
    assert "dave" in refused.json["error"]["message"]
    assert grove("claims", "drop", "theirs", "--force").code == 0
    assert team.claim_refs() == {}
    assert grove("claims", "drop", "absent").code == 1


@pytest.mark.parametrize(
    "name", ["-x", "a..b", "a b", "@", "x@{-1}", "a/.b", "b.lock", "a/", "a:b", "a\nb", "c~1", ""]
)
def test_hostile_branch_names_never_become_a_ref(name: str) -> None:
    with pytest.raises(UsageError):
        claims.claim_ref(name)


def test_valid_branch_names_become_their_claim_ref() -> None:
    assert claims.claim_ref("feature/x-1") == "refs/grove/claims/feature/x-1"


def test_a_message_from_anyone_reads_without_breaking_anything() -> None:
    junk = "junk\n\nholder: \x1b[31mevil\x07\nslot: 99999999\nexpires: nan\nsince: later\nnoise"
    parsed = claims.parse("b", "0" * 40, junk)
    assert "\x1b" not in parsed.holder and "\x07" not in parsed.holder
    assert parsed.slot is None
    assert not parsed.expired(time.time())  # an unreadable expiry never expires
    assert parsed.as_json(time.time())["expires"] is None
    # A label with a newline cannot forge another field.
    forged = claims.Holder.here("me\nslot: 7\nexpires: 0")
    text = claims.message("b", forged, 2, since=1.0, renewed=1.0, expires=9e9)
    assert claims.parse("b", "0" * 40, text).slot == 2
    assert claims.parse("b", "0" * 40, text).expires == 9e9


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ('remote = "-upload-pack=x"', "[team] remote"),
        ('remote = "a b"', "[team] remote"),
        ('claim_ttl = "8 hours"', "[team] claim_ttl"),
        ("claim_ttl = 0", "[team] claim_ttl"),
        ('claim_ttl = "99d"', "[team] claim_ttl"),
        ("owner = 1", "[team] owner"),
    ],
)
def test_bad_team_settings_are_config_errors(
    repo: Path, grove, setting: str, expected: str
) -> None:
    write_config(repo, f"[team]\n{setting}\n")
    failed = grove("list", "--json")
    assert failed.code == 2
    assert failed.json["error"]["code"] == "config"
    assert expected in failed.json["error"]["message"]
    assert "grove.toml" in failed.json["error"]["message"]


def test_team_settings_read_as_documented(repo: Path) -> None:
    from grove import config

    write_config(repo, '[team]\nremote = "upstream"\nclaim_ttl = "90m"\n')
    team = config.load(repo).team
    assert team is not None and (team.remote, team.claim_ttl) == ("upstream", 5400.0)
    write_config(repo, "[team]\nclaim_ttl = 600\n")
    team = config.load(repo).team
    assert team is not None and (team.remote, team.claim_ttl) == ("origin", 600.0)
    write_config(repo, "")
    assert config.load(repo).team is None


def test_claim_flags_that_do_nothing_are_usage_errors(repo: Path, grove) -> None:
    assert grove("take", "--claim").code == 2
    assert grove("take", "--here", "--claim").code == 2
