"""CPU seconds spent by process trees (a server and every worker it forked).

    tree_cpu_s([pid, ...]) -> user + system seconds of each process and its descendants
"""

from __future__ import annotations

import psutil


def tree_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds so far of each pid and all its descendants; processes that
    are gone are skipped."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += t.user + t.system
    return total


__all__ = ["tree_cpu_s"]
