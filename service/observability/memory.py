"""Peak resident memory of the current process, for the benchmarks' reports."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """The high-water mark of this process's resident memory, in MiB.

    Linux's VmHWM belongs to the process image, so a child started by spawn reports its own
    peak. `ru_maxrss` outlives exec: a spawned child would report at least its parent's
    size at the fork (the settle benchmark's parent holds the seeding's data)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
