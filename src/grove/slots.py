"""Slot naming, index parsing, discovery, and allocation under the grove lock."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property, partial
from pathlib import Path

from grove import config as config_mod
from grove import dotgit, git
from grove.config import Config
from grove.errors import UsageError
from grove.record import field, record, replace
from grove.state import digests, registry, store

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import Any, NoReturn


@record(frozen=True)
class Grove:
    """One repository's set of slots, seen from some directory inside it."""

    main: Path
    common_dir: Path
    here: Path  # top of the worktree the command was run from
    config: Config
    # Slots adopted from other tools' worktrees (`grove take --here`): number -> path.
    adopted: dict[int, Path] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.main.name

    @property
    def state_dir(self) -> Path:
        # Under git's common dir: shared by every worktree, never inside one.
        return self.common_dir / "grove"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "lock"

    def slot_dir_name(self, n: int) -> str:
        return self.config.naming.format(name=self.name, n=n)

    def slot_path(self, n: int) -> Path:
        if n == 0:
            return self.main
        adopted = self.adopted.get(n)
        return adopted if adopted is not None else self.main.parent / self.slot_dir_name(n)

    @cached_property
    def _name_pattern(self) -> re.Pattern[str]:
        pattern = re.escape(self.config.naming)
        pattern = pattern.replace(re.escape("{name}"), re.escape(self.name))
        pattern = pattern.replace(re.escape("{n}"), r"([1-9][0-9]*)")
        return re.compile(f"^{pattern}$")

    @cached_property
    def _real_places(self) -> tuple[Path | None, Path | None, dict[int, Path | None]]:
        """main, its parent folder and the adopted worktrees, resolved once: index_for runs
        for every worktree `list` and `discover` see, each time against all of them."""
        adopted = {n: _real(path) for n, path in self.adopted.items()}
        return _real(self.main), _real(self.main.parent), adopted

    def index_for(self, path: Path) -> int | None:
        """The slot index of a worktree path: 0 for main, N when adopted or parsed from the
        name, else None."""
        real = _real(path)
        main, parent, adopted = self._real_places
        if real is not None and real == main:
            return 0
        for n, place in adopted.items():
            if real is not None and real == place:
                return n
        if parent is None or _real(path.parent) != parent:
            return None
        match = self._name_pattern.match(path.name)
        if match is None or int(match.group(1)) in self.adopted:
            return None  # a slot-like name whose number an adopted worktree holds is not it
        return int(match.group(1))

    @property
    def current(self) -> int | None:
        return self.index_for(self.here)

    def resolve_slot(self, n: int | None) -> int:
        """The slot a command acts on: the one given, else the one we are standing in."""
        if n is not None:
            if n < 0:
                raise UsageError(f"slot must be 0 or more, got {n}")
            return n
        current = self.current
        if current is None:
            raise UsageError(
                f"{self.here} is not a grove slot (its name does not match '{self.config.naming}')",
                hint="pass the slot number (`grove list` shows them), or "
                "`grove take --here` to make this worktree a slot",
            )
        return current

    def template_fields(self, n: int) -> dict[str, str | int]:
        fields: dict[str, str | int] = {"n": n, "name": self.name, "dir": self.slot_path(n).name}
        fields.update(self.config.ports_for(n))
        return fields


def _real(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, on Python 3.11 and 3.12
        return None


def open_grove(cwd: Path | None = None, load_config: bool = True) -> Grove:
    here = (cwd or Path.cwd()).resolve()
    location = git.locate(here)
    common = location.common_dir.resolve()
    # With a separate git dir, git still lists the main worktree first.
    main = common.parent if common.name == ".git" else git.worktrees(location.toplevel)[0].path
    store.check_state_dir(common / "grove")
    # config.py runs no git: it is handed _tracked to refuse env files git tracks.
    cfg = (
        config_mod.load(main, partial(_tracked, common, main), partial(_toml_data, common))
        if load_config
        else Config(path=None)
    )
    return Grove(
        main=main.resolve(),
        common_dir=common,
        here=location.toplevel.resolve(),
        config=cfg,
        adopted=registry.read(common / "grove"),
    )


def _tracked(common: Path, main: Path, names: Sequence[str]) -> set[str]:
    """Which of these files main's index tracks: git ls-files, run again only when the index
    file changed (git replaces it on every write). Every command asks this when it reads
    grove.toml, so it was one git process per call."""
    import json

    key = "tracked:" + json.dumps(sorted(names))
    answer = digests.digest(
        common / "grove",
        key,
        common,
        ["index"],
        lambda: json.dumps(sorted(git.tracked(main, names))),
    )
    return set(json.loads(answer))


class _NotJson(Exception):
    pass


def _toml_data(common: Path, path: Path) -> dict[str, Any]:
    """grove.toml's data, parsed again only when the file changed (size, mtime, ctime,
    inode; see state/digests): tomllib, its patterns and datetime cost 3-5 ms of every
    command. A file that holds a TOML date, which JSON cannot, is parsed every time."""
    import json

    def as_json() -> str:
        def refuse(value: object) -> NoReturn:
            raise _NotJson

        return json.dumps(config_mod.read_toml(path), default=refuse)

    try:
        answer = digests.digest(
            common / "grove", f"toml:{path.name}", path.parent, [path.name], as_json
        )
    except _NotJson:
        return config_mod.read_toml(path)
    data = json.loads(answer)
    return data if isinstance(data, dict) else config_mod.read_toml(path)


def reread_registry(grove: Grove) -> Grove:
    """The same grove with the adopted slots as recorded now. Callers hold the grove lock:
    another process may have adopted a worktree since this one started."""
    return replace(grove, adopted=registry.read(grove.state_dir))


@record(frozen=True)
class Slot:
    n: int
    path: Path
    registered: bool
    exists: bool
    worktree: git.Worktree | None
    adopted: bool = False

    @property
    def abandoned(self) -> bool:
        """An adopted worktree that is no longer one (its tool deleted or unregistered it)."""
        prunable = self.worktree is not None and self.worktree.prunable is not None
        usable = self.registered and self.exists and not prunable
        return self.adopted and not usable


@record(frozen=True)
class Layout:
    slots: list[Slot]
    foreign: list[git.Worktree]  # registered worktrees whose path is not a slot name


def discover(grove: Grove, *, from_records: bool = False) -> Layout:
    """Every slot: registered worktrees plus sibling folders whose names parse.

    from_records: which worktrees are registered is read from git's own records
    (dotgit.registered_worktrees), not asked of `git worktree list`, and no Worktree knows
    its HEAD, branch, lock or prunability. For callers that need only which folders are
    registered (take, list, and finding a slot by number): git's 2-3 ms kept every other
    command waiting while take held the grove lock, and `git worktree list` waits forever
    on a FIFO planted in place of a record, which the records reader refuses.
    """
    by_index: dict[int, Slot] = {}
    foreign: list[git.Worktree] = []
    listed = _recorded_worktrees(grove) if from_records else git.worktrees(grove.main)
    for wt in listed:
        n = grove.index_for(wt.path)
        if n is None:
            foreign.append(wt)
            continue
        # A folder replaced by a file or a link is not the worktree git registered.
        present = wt.path.is_dir() and not wt.path.is_symlink()
        by_index[n] = Slot(n, wt.path, True, present, wt, n in grove.adopted)
    for n, path in grove.adopted.items():
        if n not in by_index:  # its tool deleted it, or it was never a worktree of ours
            by_index[n] = Slot(n, path, False, path.is_dir(), None, True)
    try:
        siblings = list(grove.main.parent.iterdir())
    except OSError:
        siblings = []
    for entry in siblings:
        n = grove.index_for(entry)
        if n is not None and n not in by_index and entry.is_dir():
            by_index[n] = Slot(n, entry, False, True, None)
    return Layout(sorted(by_index.values(), key=lambda s: s.n), foreign)


RECORDS_LIMIT = 4096  # worktree records read at most; git itself has no such limit


def _recorded_worktrees(grove: Grove) -> list[git.Worktree]:
    """main and the linked worktrees git has recorded, as `git worktree list` names them."""
    records = dotgit.registered_worktrees(str(grove.common_dir), RECORDS_LIMIT)
    return [git.Worktree(path, None, None) for path in [grove.main, *map(Path, records)]]


def lowest_free(grove: Grove, layout: Layout) -> int | None:
    taken = {slot.n for slot in layout.slots}
    for n in range(1, grove.config.slots):
        if n not in taken and not grove.slot_path(n).exists():
            return n
    return None


def targets(grove: Grove, numbers: list[int], all_slots: bool) -> list[int]:
    """The slots a command acts on: --all, the numbers given, else the current one."""
    if all_slots:  # which are registered is all it asks: git's records tell (see discover)
        return [s.n for s in discover(grove, from_records=True).slots if s.registered and s.exists]
    if numbers:
        return sorted(set(numbers))
    return [grove.resolve_slot(None)]


def existing_slot(grove: Grove, n: int, *, with_git_state: bool = False) -> Slot:
    """Slot n as a registered worktree with its folder present, or a usage error.

    Read from git's worktree records (see discover), which tell all that is checked here;
    with_git_state asks `git worktree list` instead, for a caller that needs the slot's
    lock or prunability from git."""
    for slot in discover(grove, from_records=not with_git_state).slots:
        if slot.n == n:
            if not slot.registered:
                raise UsageError(
                    f"{slot.path} is not a registered worktree",
                    hint="`grove validate` explains what is wrong with it",
                )
            if not slot.exists:
                raise UsageError(
                    f"slot {n}'s folder {slot.path} is gone",
                    hint=f"`git worktree prune`, then `grove create {n}`",
                )
            return slot
    raise UsageError(
        f"slot {n} does not exist", hint="`grove list` shows the slots; `grove create` adds one"
    )
