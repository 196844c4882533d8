"""One module per verb: run(...) -> a result object; none of them prints.

A command parses nothing itself and never imports another command: state changes go
through grove.lifecycle, reads through the modules below it."""

from __future__ import annotations

from grove.slots import existing_slot, targets

__all__ = ["existing_slot", "targets"]
