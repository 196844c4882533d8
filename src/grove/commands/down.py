"""grove down [N] [SERVICE...]: stop slot N's services, each as a whole process group
(SIGTERM, then SIGKILL after a grace period)."""

from __future__ import annotations

from grove.lifecycle import services
from grove.slots import Grove


def run(grove: Grove, n: int | None, names: list[str]) -> services.ServicesResult:
    return services.down(grove, grove.resolve_slot(n), names or None)
