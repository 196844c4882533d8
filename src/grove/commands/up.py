"""grove up [N] [SERVICE...]: start slot N's services in the background, wait for their
ports, print their URLs. A running service is left alone; a dead one is started again."""

from __future__ import annotations

from grove.lifecycle import services
from grove.slots import Grove


def run(
    grove: Grove, n: int | None, names: list[str], allow_unapproved: bool
) -> services.ServicesResult:
    return services.up(grove, grove.resolve_slot(n), names or None, allow_unapproved)
