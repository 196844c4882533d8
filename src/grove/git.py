"""Typed git queries. The one place that runs git.

Read-only queries pass --no-optional-locks so that looking at a slot never takes
index.lock from an agent working in it (git would otherwise refresh and rewrite the
index during `status`). Machine-readable forms (-z, --porcelain) are parsed, never
messages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from grove import dotgit, proc
from grove.errors import GitError, NotARepository
from grove.record import field, record


def _git(cwd: Path, *args: str, read_only: bool = False) -> proc.Completed:
    return proc.run(_argv(cwd, args, read_only), env=proc.git_env())


def _argv(cwd: Path, args: Sequence[str], read_only: bool) -> list[str]:
    return ["git", *(["--no-optional-locks"] if read_only else []), "-C", str(cwd), *args]


def _check(result: proc.Completed, hint: str = "") -> str:
    if result.returncode != 0:
        raise GitError(result.argv, result.returncode, result.stderr, hint)
    return result.stdout


@record(frozen=True)
class Location:
    toplevel: Path
    common_dir: Path


def locate(cwd: Path) -> Location:
    """The worktree containing cwd and git's common dir (shared by every worktree)."""
    found = _locate_on_disk(cwd)
    if found is not None:
        return found
    result = _git(
        cwd,
        "rev-parse",
        "--path-format=absolute",
        "--show-toplevel",
        "--git-common-dir",
        read_only=True,
    )
    if result.returncode != 0:
        raise NotARepository(
            f"not inside a git repository: {cwd}",
            hint="run grove from a checkout of your repository (main or one of its slots)",
        )
    lines = result.stdout.splitlines()
    if len(lines) != 2:
        raise NotARepository(
            f"{cwd} is not in a worktree with files (a bare repository?)",
            hint="grove needs a main checkout with a working tree",
        )
    return Location(Path(lines[0]), Path(lines[1]))


def _locate_on_disk(cwd: Path) -> Location | None:
    """What `git rev-parse --show-toplevel --git-common-dir` answers, read from the files it
    reads (grove.dotgit); None when git itself must decide."""
    found = dotgit.locate(str(cwd))
    return None if found is None else Location(Path(found[0]), Path(found[1]))


@record(frozen=True)
class Worktree:
    path: Path
    head: str | None
    branch: str | None  # short name, None when detached
    bare: bool = False
    locked: str | None = None  # reason ("" when locked without one)
    prunable: str | None = None


def worktrees(repo: Path) -> list[Worktree]:
    out = _check(_git(repo, "worktree", "list", "--porcelain", "-z", read_only=True))
    result: list[Worktree] = []
    record: dict[str, str] = {}
    for token in [*out.split("\0"), ""]:
        if token == "":
            if record:
                branch = record.get("branch")
                result.append(
                    Worktree(
                        path=Path(record["worktree"]),
                        head=record.get("HEAD"),
                        branch=branch.removeprefix("refs/heads/") if branch else None,
                        bare="bare" in record,
                        locked=record.get("locked"),
                        prunable=record.get("prunable"),
                    )
                )
                record = {}
            continue
        key, _, value = token.partition(" ")
        record[key] = value
    return result


def worktree_add(
    repo: Path,
    path: Path,
    start: str,
    branch: str | None = None,
    new_branch: bool = False,
) -> None:
    """Add a worktree. Without a branch it is detached, so no branch is created."""
    if branch is None:
        args = ["worktree", "add", "--detach", str(path), start]
    elif new_branch:
        args = ["worktree", "add", "-b", branch, str(path), start]
    else:
        args = ["worktree", "add", str(path), branch]
    _check(_git(repo, *args), hint="see git's message above")


def worktree_remove(repo: Path, path: Path, locked: bool) -> None:
    # grove has already checked for work at risk; git's own check would refuse ignored
    # content differently, so force once (twice for a locked worktree, as git requires).
    args = ["worktree", "remove", "--force"]
    if locked:
        args.append("--force")
    _check(_git(repo, *args, str(path)))


# The questions rev_parse, branch_exists and valid_branch_name ask, alone or side by side.
def _commit_of(ref: str) -> list[str]:
    return ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"]


def _branch_of(name: str) -> list[str]:
    return ["rev-parse", "--verify", "--quiet", f"refs/heads/{name}"]


def _branch_name(name: str) -> list[str]:
    return ["check-ref-format", "--branch", name]


def rev_parse(repo: Path, ref: str) -> str | None:
    result = _git(repo, *_commit_of(ref), read_only=True)
    return result.stdout.strip() if result.returncode == 0 else None


def branch_exists(repo: Path, name: str) -> bool:
    return _git(repo, *_branch_of(name), read_only=True).returncode == 0


def valid_branch_name(repo: Path, name: str) -> bool:
    return _git(repo, *_branch_name(name), read_only=True).returncode == 0


def start_request_checks(
    repo: Path, ref: str, branch: str | None
) -> Callable[[], tuple[str | None, bool, bool]]:
    """rev_parse(ref), and for a branch valid_branch_name and branch_exists, asked of three
    git processes at once: a take asks all three before it does anything, and one after
    another they were 5-7 ms of it. Started: call the result (once) for the answers,
    (None, False, False) parts for no branch."""
    questions = [_commit_of(ref)]
    if branch is not None:
        questions += [_branch_name(branch), _branch_of(branch)]
    argvs = [_argv(repo, question, read_only=True) for question in questions]
    collect = proc.start_all(argvs, env=proc.git_env())

    def answers() -> tuple[str | None, bool, bool]:
        done = collect()
        sha = done[0].stdout.strip() if done[0].returncode == 0 else None
        if branch is None:
            return sha, False, False
        return sha, done[1].returncode == 0, done[2].returncode == 0

    return answers


def switch(path: Path, branch: str, create_from: str | None = None) -> None:
    if create_from is None:
        _check(_git(path, "switch", branch))
    else:
        _check(_git(path, "switch", "-c", branch, create_from))


def switch_detached(path: Path, ref: str) -> None:
    _check(_git(path, "switch", "--detach", ref))


@record
class Status:
    oid: str | None = None
    branch: str | None = None
    upstream: str | None = None
    ahead: int | None = None
    behind: int | None = None
    staged: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    unmerged: list[str] = field(default_factory=list)

    @property
    def dirty(self) -> bool:
        return bool(self.staged or self.modified or self.untracked or self.unmerged)

    @property
    def tracked_changes(self) -> list[str]:
        return sorted({*self.staged, *self.modified, *self.unmerged})


_STATUS = ("status", "--porcelain=v2", "--branch", "-z")


def status(path: Path) -> Status:
    return _parse_status(_check(_git(path, *_STATUS, read_only=True)))


def start_status(path: Path) -> Callable[[], Status]:
    """status, started: call the result (once) for the status, or its GitError."""
    collect = proc.start_all([_argv(path, _STATUS, read_only=True)], env=proc.git_env())
    return lambda: _parse_status(_check(collect()[0]))


def statuses(paths: Sequence[Path]) -> list[Status | GitError]:
    """The status of each worktree, their git processes running side by side; a worktree
    whose status failed gets its error in its place."""
    return start_statuses(paths)()


def start_statuses(paths: Sequence[Path]) -> Callable[[], list[Status | GitError]]:
    """statuses, started: the caller works while git does, then calls the result (once).
    A status prestart_statuses already started for a path is used, not started again."""
    env = proc.git_env()
    waiting = []
    for path in paths:
        early = _prestarted.pop(_real_key(path), None)
        argvs = [_argv(path, _STATUS, read_only=True)]
        waiting.append(early or proc.start_all(argvs, env=env, yield_cpu=True))
    unused = end_prestart()

    def parsed() -> list[Status | GitError]:
        found: list[Status | GitError] = []
        for collect in waiting:
            try:
                found.append(_parse_status(_check(collect()[0])))
            except GitError as error:
                found.append(error)
        for collect in unused:
            collect()  # reaped, unread: not a worktree the caller asked about
        return found

    return parsed


# `grove list`'s statuses, started before the rest of grove loads: the real path of each
# worktree -> what collects its one process. start_statuses takes them over.
_prestarted: dict[str, Callable[[], list[proc.Completed]]] = {}
PRESTART_LIMIT = 32  # worktrees started early at most; any others start when asked for


def prestart_statuses(cwd: Path) -> None:
    """Start `git status` in main and the worktrees beside it, as start_statuses would,
    before `list` loads its arguments, config and checks: those took 40-60 ms before the
    first status started, on a two-CPU machine where all ten statuses take about 50. The
    worktrees are read from git's own records (`worktrees/*/gitdir`); a guess that turns
    out wrong costs one status nobody reads. Without a plain layout nothing starts early."""
    location = _locate_on_disk(cwd)
    if location is None or location.common_dir.name != ".git":
        return
    main = location.common_dir.parent
    paths = [main]
    for folder in dotgit.registered_worktrees(str(location.common_dir), PRESTART_LIMIT - 1):
        worktree = Path(folder)
        if worktree.parent == main.parent:  # where slots live; anything else waits
            paths.append(worktree)
    env = proc.git_env()
    for path in paths:
        key = _real_key(path)
        if key not in _prestarted:
            argvs = [_argv(path, _STATUS, read_only=True)]
            _prestarted[key] = proc.start_all(argvs, env=env, yield_cpu=True)


def end_prestart() -> list[Callable[[], list[proc.Completed]]]:
    """Forget the statuses started early and not taken over (their collectors, to reap)."""
    unused = list(_prestarted.values())
    _prestarted.clear()
    return unused


def _real_key(path: Path) -> str:
    import os

    return os.path.realpath(path)


def _parse_status(out: str) -> Status:
    st = Status()
    tokens = out.split("\0")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token:
            continue
        if token.startswith("# branch.oid "):
            oid = token.removeprefix("# branch.oid ")
            st.oid = None if oid == "(initial)" else oid
        elif token.startswith("# branch.head "):
            head = token.removeprefix("# branch.head ")
            st.branch = None if head == "(detached)" else head
        elif token.startswith("# branch.upstream "):
            st.upstream = token.removeprefix("# branch.upstream ")
        elif token.startswith("# branch.ab "):
            ahead, behind = token.removeprefix("# branch.ab ").split()
            st.ahead, st.behind = int(ahead), -int(behind)
        elif token[0] in "12u":
            fields = token.split(" ")
            xy = fields[1]
            name = " ".join(fields[{"1": 8, "2": 9, "u": 10}[token[0]] :])
            if token[0] == "2":
                i += 1  # a rename carries its original path as the next NUL field
            if token[0] == "u":
                st.unmerged.append(name)
                continue
            if xy[0] != ".":
                st.staged.append(name)
            if xy[1] != ".":
                st.modified.append(name)
        elif token.startswith("? "):
            st.untracked.append(token[2:])
    return st


def ignored(path: Path) -> list[str]:
    """Git-ignored entries in a worktree (folders collapsed), which remove deletes silently."""
    out = _check(
        _git(
            path,
            "status",
            "--porcelain=v1",
            "-z",
            "--ignored",
            "--untracked-files=normal",
            read_only=True,
        )
    )
    return sorted(t[3:] for t in out.split("\0") if t.startswith("!! "))


def commits_on_no_branch(path: Path) -> list[str]:
    """Commits reachable from HEAD that no branch, tag or remote keeps alive."""
    result = _git(
        path,
        "rev-list",
        "--max-count=20",
        "HEAD",
        "--not",
        "--branches",
        "--tags",
        "--remotes",
        read_only=True,
    )
    if result.returncode != 0:
        return []
    return result.stdout.split()


@record(frozen=True)
class Commit:
    sha: str
    subject: str
    age: str


def log(path: Path, count: int) -> list[Commit]:
    result = _git(
        path, "log", f"--max-count={count}", "--format=%h%x00%s%x00%cr%x00", read_only=True
    )
    if result.returncode != 0:
        return []
    fields = result.stdout.split("\0")
    return [
        Commit(fields[i].strip(), fields[i + 1], fields[i + 2])
        for i in range(0, len(fields) - 3, 3)
    ]


def diff_stat(path: Path) -> str:
    # Plumbing on purpose: porcelain `git diff HEAD` refreshes and rewrites the index even
    # under --no-optional-locks (git 2.39), which would race an agent working in the slot.
    result = _git(path, "diff-index", "--stat", "--no-color", "HEAD", read_only=True)
    return result.stdout.rstrip() if result.returncode == 0 else ""


def check_ignore(path: Path, names: Sequence[str]) -> set[str]:
    """Which of names git ignores in this worktree (tracked files are never ignored)."""
    if not names:
        return set()
    result = proc.run(
        ["git", "--no-optional-locks", "-C", str(path), "check-ignore", "--stdin", "-z"],
        env=proc.git_env(),
        stdin="\0".join(names) + "\0",
    )
    return {name for name in result.stdout.split("\0") if name}


def tracked(path: Path, names: Sequence[str]) -> set[str]:
    if not names:
        return set()
    out = _check(_git(path, "ls-files", "-z", "--", *names, read_only=True))
    return {name for name in out.split("\0") if name}


def start_tracked_in(
    repo: Path, commit: str, names: Sequence[str]
) -> Callable[[], set[str] | None]:
    """Which of these files a commit holds (what `tracked` answers in a clean worktree just
    switched to it), started: call the result once; None when git could not tell."""
    if not names:
        return set
    argv = _argv(repo, ["ls-tree", "-r", "-z", "--name-only", commit, "--", *names], True)
    collect = proc.start_all([argv], env=proc.git_env())

    def answer() -> set[str] | None:
        done = collect()[0]
        if done.returncode != 0:
            return None
        return {name for name in done.stdout.split("\0") if name}

    return answer


def untracked_matching(repo: Path, patterns_file: Path) -> list[str]:
    """Untracked paths matching a gitignore-syntax file (folders collapsed)."""
    out = _check(
        _git(
            repo,
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            f"--exclude-from={patterns_file}",
            "--directory",
            read_only=True,
        )
    )
    return sorted(name for name in out.split("\0") if name)


def discard_changes(path: Path) -> None:
    """Tracked changes and untracked files (never ignored ones) are thrown away."""
    _check(_git(path, "reset", "--hard", "--quiet"))
    _check(_git(path, "clean", "-fd", "--quiet"))


# Claims (refs/grove/claims/<branch> on a remote): a push with an expected old value is a
# compare-and-swap on the remote, and these are its pieces. Hooks are skipped (--no-verify):
# a claim is no code, and a user's pre-push hook would run tests for it.

EMPTY_TREE_SHA1 = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# A remote that hangs (a dead network under ssh waits for TCP's own timeout, minutes) must
# not hold grove for longer than this; its whole process group is stopped then.
NETWORK_TIMEOUT = 20.0


def _network(repo: Path, args: Sequence[str]) -> proc.Completed:
    argv = _argv(repo, args, False)
    done = proc.run_bounded(argv, repo, NETWORK_TIMEOUT, env=proc.git_env())
    if done is None:
        return proc.Completed(argv, -1, "", f"fatal: no answer within {NETWORK_TIMEOUT:g}s")
    return done


def commit_message_only(repo: Path, message: str, when: float) -> str:
    """A parentless commit of the empty tree holding message, written to the object store.
    Its identity and dates are fixed here, so it works without user.name configured and the
    same message at the same second is the same commit."""
    stamp = f"@{int(when)} +0000"
    env = proc.git_env(
        {
            "GIT_AUTHOR_NAME": "grove",
            "GIT_AUTHOR_EMAIL": "grove@localhost",
            "GIT_COMMITTER_NAME": "grove",
            "GIT_COMMITTER_EMAIL": "grove@localhost",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
    )
    argv = ["git", "-C", str(repo), "commit-tree", EMPTY_TREE_SHA1]
    result = proc.run(argv, env=env, stdin=message)
    if result.returncode != 0:
        # A SHA-256 repository names the empty tree differently: ask it (rare, one more git).
        tree = _check(_git(repo, "hash-object", "-t", "tree", "-w", "/dev/null")).strip()
        result = proc.run([*argv[:-1], tree], env=env, stdin=message)
    return _check(result).strip()


@record(frozen=True)
class PushOutcome:
    """One ref's push: done, or rejected (the remote's value was not the expected one, or
    it refused), or failed before any ref was judged (no such remote, no network)."""

    done: bool
    rejected: bool
    reason: str  # git's short status ("stale info", "fetch first"), or its last error line


def push_lease(
    repo: Path, remote: str, ref: str, new: str | None, expected: str | None
) -> PushOutcome:
    """Set ref on remote to new (delete it with None) only if it is expected there now
    (None: only if it does not exist). `--force-with-lease=REF:` with an empty value means
    "must not exist"; the remote checks it under its ref lock, so of concurrent pushes with
    the same expectation exactly one wins."""
    lease = f"--force-with-lease={ref}:{expected or ''}"
    spec = f"{new}:{ref}" if new is not None else f":{ref}"
    result = _network(repo, ("push", "--porcelain", "--no-verify", lease, remote, spec))
    for line in result.stdout.splitlines():
        # --porcelain: "<flag>\t<from>:<to>\t<summary>"; the flag "!" is a rejection.
        parts = line.split("\t")
        if len(parts) >= 3 and parts[1].endswith(f":{ref}"):
            summary = parts[2].strip()
            if parts[0] == "!":
                reason = summary[summary.find("(") + 1 : summary.rfind(")")] or summary
                return PushOutcome(False, True, reason)
            return PushOutcome(True, False, summary)
    return PushOutcome(False, False, _last_error(result))


def _last_error(result: proc.Completed) -> str:
    """git's last "fatal:"/"error:" line, short: what went wrong without the whole dump."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    chosen = next(
        (line for line in lines if line.startswith(("fatal:", "error:"))),
        lines[-1] if lines else f"exit code {result.returncode}",
    )
    chosen = chosen.removeprefix("fatal: ").removeprefix("error: ")
    return chosen if len(chosen) <= 200 else chosen[:197] + "..."


def fetch_mirror(repo: Path, remote: str, pattern: str, mirror: str) -> str | None:
    """Copy remote's refs matching `pattern/*` to local `mirror/*`, pruning mirrors the
    remote no longer has; no tags, no FETCH_HEAD. None on success, else a short reason."""
    refspec = f"+{pattern}/*:{mirror}/*"
    args = ("fetch", "--quiet", "--prune", "--no-tags", "--no-write-fetch-head", remote, refspec)
    result = _network(repo, args)
    return None if result.returncode == 0 else _last_error(result)


@record(frozen=True)
class RefMessage:
    ref: str
    sha: str
    message: str


def ref_messages(repo: Path, prefix: str) -> list[RefMessage]:
    """Every ref under prefix, with the message of the commit it names. Each entry ends
    with a token made up for this call, so nothing a message holds (a NUL, a line that
    looks like the next entry) can break the parse."""
    import os

    token = os.urandom(12).hex()
    fmt = f"%(refname)%00%(objectname)%00%(objecttype)%00%(contents)%00{token}%00"
    out = _check(_git(repo, "for-each-ref", f"--format={fmt}", prefix, read_only=True))
    found: list[RefMessage] = []
    for entry in out.split(f"\0{token}\0\n"):
        fields = entry.split("\0", 3)
        if len(fields) == 4 and fields[2] == "commit":
            found.append(RefMessage(fields[0], fields[1], fields[3]))
    return found


def set_ref(repo: Path, ref: str, sha: str | None) -> None:
    """Point a local ref at sha, or delete it (None); no reflog entry is worth keeping."""
    if sha is None:
        _check(_git(repo, "update-ref", "-d", ref))
    else:
        _check(_git(repo, "update-ref", "--no-deref", ref, sha))
