"""grove.record behaves as the dataclasses it replaces do, for what grove uses."""

from __future__ import annotations

import subprocess
import sys
from functools import cached_property

import pytest

from grove.record import FrozenInstanceError, asdict, field, record, replace


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", compare=False, repr=False)

    @cached_property
    def size(self) -> int:
        return self.x + self.y


@record(frozen=True)
class Pair:
    a: int
    b: str = field(default="", compare=False)


@record
class Box:
    name: str
    points: list[Point] = field(default_factory=list)
    meta: dict[str, tuple[Point, ...]] = field(default_factory=dict)


def test_fields_by_position_or_keyword_with_defaults() -> None:
    p = Point(1, tags=["a"])
    assert (p.x, p.y, p.tags, p.note) == (1, 0, ["a"], "")
    assert Point(x=3, y=4).size == 7  # cached_property works on a frozen record


def test_a_default_factory_gives_each_instance_its_own_value() -> None:
    first, second = Box("a"), Box("b")
    first.points.append(Point(1))
    assert second.points == []


def test_wrong_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="missing argument 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected arguments \\['z'\\]"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="two values for 'x'"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 4 arguments"):
        Point(1, 2, [], "", 5)  # type: ignore[call-arg]


def test_equality_hash_and_repr_follow_compare_and_repr() -> None:
    assert Point(1, 2, note="a") == Point(1, 2, note="b")
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != (1, 0, [], "")
    assert hash(Pair(1, "a")) == hash(Pair(1, "b"))  # `b` is not compared, so not hashed
    assert len({Pair(1), Pair(1), Pair(2)}) == 2
    assert repr(Point(1, 2, note="secret")) == "Point(x=1, y=2, tags=[])"
    with pytest.raises(TypeError):
        hash(Box("a"))  # mutable records compare by value, so they have no hash


def test_frozen_refuses_assignment_and_mutable_allows_it() -> None:
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del p.x  # type: ignore[misc]
    box = Box("a")
    box.name = "b"
    assert box.name == "b"


def test_replace_and_asdict() -> None:
    p = Point(1, 2, ["t"])
    moved = replace(p, y=5)
    assert (moved.x, moved.y, moved.tags) == (1, 5, ["t"]) and p.y == 2
    box = Box("a", [p], {"k": (p,)})
    assert asdict(box) == {
        "name": "a",
        "points": [{"x": 1, "y": 2, "tags": ["t"], "note": ""}],
        "meta": {"k": ({"x": 1, "y": 2, "tags": ["t"], "note": ""},)},
    }


def test_grove_defines_its_records_without_dataclasses_or_inspect() -> None:
    probe = (
        "import sys, grove.cli, grove.config, grove.slots, grove.git, grove.envfile\n"
        "print(','.join(m for m in ('dataclasses', 'inspect') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
