"""The text table: aligned in terminal cells, one line per row, nothing unsafe through."""

from __future__ import annotations

import pytest

from grove import output


def test_columns_are_aligned_two_spaces_apart() -> None:
    text = output.table(["slot", "branch"], [["main", "feature/x"], ["wt1", "-"]])
    assert text.splitlines() == ["slot  branch", "main  feature/x", "wt1   -"]


def test_wide_characters_count_two_cells_and_combining_marks_none() -> None:
    rows = [["日本", "a"], ["e\u0301", "b"], ["abcd", "c"]]
    lines = output.table(["name", "x"], rows).splitlines()
    # Every second column starts at the same terminal cell: 4 cells of name + 2 spaces.
    for line in lines:
        first, second = line.rsplit("  ", 1)
        assert output.display_width(first) + 2 == 6, line
        assert second in ("x", "a", "b", "c")


def test_a_newline_or_control_character_in_a_cell_stays_on_its_row() -> None:
    text = output.table(["label", "state"], [["two\nlines\ttab", "ok"], ["\x1b[31mred", "ok"]])
    lines = text.splitlines()
    assert len(lines) == 3
    assert "\x1b" not in text
    assert lines[1].startswith("two lines tab")
    assert lines[2].startswith("\\x1b[31mred")


@pytest.mark.parametrize(
    ("seconds", "passed", "nearest"),
    [
        (0, "0s", "0s"),
        (59.6, "59s", "60s"),
        (120, "2m", "2m"),
        (7199, "119m", "120m"),
        (7200, "2h", "2h"),
        (28799.5, "7h", "8h"),  # a claim renewed half a second ago still "expires in 8h"
        (172800, "2d", "2d"),
        (1_000_000, "11d", "12d"),
    ],
)
def test_a_duration_reads_in_its_largest_unit(seconds: float, passed: str, nearest: str) -> None:
    assert output.duration(seconds) == passed  # a lease's age: whole units passed
    assert output.duration(seconds, nearest=True) == nearest
