"""Throttle a process tree's storage IO with the kernel's cgroup controls.

    plan_throttle(path) -> IoPlan      which mechanism this kernel allows, on which device
    apply_throttle(plan, pids, bps)    a new cgroup with the limit; the pids moved into it
    lift_throttle(applied)             the pids moved back, the cgroup removed

Mechanisms, in order of preference:
* ``cgroup2 io.max``: the unified hierarchy has the ``io`` controller
  (``MAJ:MIN rbps=N wbps=N`` in a child's ``io.max``);
* ``cgroup1 blkio.throttle``: the v1 ``blkio`` hierarchy
  (``blkio.throttle.read_bps_device`` and ``write_bps_device``). Under v1, buffered writes
  are written back by the kernel outside the cgroup, so mostly reads (and direct or synced
  writes) are slowed; the report says so.
Neither usable (no controller, no permission, a path on a device without a block queue
such as tmpfs or overlay) -> ``DependencyMissing`` naming why. Children that the moved
processes start later stay in the cgroup (an encoder restarted during the throttle).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vvtvlib.core.errors import DependencyMissing

CGROUP = Path("/sys/fs/cgroup")
V2_NOTE = "cgroup v2 io.max limits reads and writes, writeback included"
V1_NOTE = ("cgroup v1 blkio.throttle limits reads and direct or synced writes; buffered "
           "writes are written back outside the cgroup and are not slowed")


@dataclass(frozen=True)
class IoPlan:
    mechanism: str  # "cgroup2 io.max" | "cgroup1 blkio.throttle"
    hierarchy: str  # the cgroup mount holding the controller
    device: str  # MAJ:MIN of the whole disk under the path
    note: str


@dataclass
class Applied:
    plan: IoPlan
    cgroup: str
    bps: int
    pids: list[int]
    origins: dict[str, str] = field(default_factory=dict)  # pid -> cgroup dir it came from
    applied_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Applied:
        return cls(**{**d, "plan": IoPlan(**d["plan"])})


def disk_of(path: str | Path) -> str:
    """MAJ:MIN of the whole block device holding ``path`` (a partition's parent disk)."""
    st = os.stat(path)
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    sys_dev = Path("/sys/dev/block") / dev
    if not sys_dev.exists():
        raise DependencyMissing(f"{path} is on device {dev}, which has no block queue "
                                "(tmpfs, overlay or a network file system): the kernel "
                                "cannot throttle its IO")
    if (sys_dev / "partition").exists():
        return (sys_dev.resolve().parent / "dev").read_text().strip()
    return dev


def plan_throttle(path: str | Path, cgroup_root: Path = CGROUP) -> IoPlan:
    device = disk_of(path)
    unified = cgroup_root if (cgroup_root / "cgroup.controllers").exists() \
        else cgroup_root / "unified"
    controllers = unified / "cgroup.controllers"
    if controllers.exists() and "io" in controllers.read_text().split():
        return IoPlan("cgroup2 io.max", str(unified), device, V2_NOTE)
    v1 = cgroup_root / "blkio"
    if (v1 / "blkio.throttle.read_bps_device").exists():
        if not os.access(v1, os.W_OK):
            raise DependencyMissing(f"{v1} is not writable: throttling needs root or a "
                                    "delegated cgroup")
        return IoPlan("cgroup1 blkio.throttle", str(v1), device, V1_NOTE)
    raise DependencyMissing("this kernel offers neither the cgroup v2 io controller nor "
                            "the v1 blkio hierarchy")


def _cgroup_of(pid: int, plan: IoPlan) -> str:
    want = "" if plan.mechanism.startswith("cgroup2") else "blkio"
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, rel = line.split(":", 2)
        if (want and want in ctrls.split(",")) or (not want and ctrls == ""):
            return str(Path(plan.hierarchy) / rel.lstrip("/"))
    return plan.hierarchy


def apply_throttle(plan: IoPlan, pids: list[int], bps: int, name: str) -> Applied:
    """Move ``pids`` into a new cgroup ``name`` limited to ``bps`` bytes/s each way."""
    cg = Path(plan.hierarchy) / name
    cg.mkdir(exist_ok=True)
    if plan.mechanism.startswith("cgroup2"):
        with contextlib.suppress(OSError):  # enable io for children (may already be on)
            (Path(plan.hierarchy) / "cgroup.subtree_control").write_text("+io")
        (cg / "io.max").write_text(f"{plan.device} rbps={bps} wbps={bps}\n")
    else:
        (cg / "blkio.throttle.read_bps_device").write_text(f"{plan.device} {bps}\n")
        (cg / "blkio.throttle.write_bps_device").write_text(f"{plan.device} {bps}\n")
    applied = Applied(plan, str(cg), bps, [], applied_at=time.time())
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            applied.origins[str(pid)] = _cgroup_of(pid, plan)
            (cg / "cgroup.procs").write_text(f"{pid}\n")
            applied.pids.append(pid)
    return applied


def io_done(applied: Applied) -> int:
    """Bytes the cgroup's processes read and wrote on the device so far (what the limit
    saw)."""
    cg = Path(applied.cgroup)
    total = 0
    with contextlib.suppress(OSError):
        if applied.plan.mechanism.startswith("cgroup2"):
            for line in (cg / "io.stat").read_text().splitlines():
                if line.startswith(applied.plan.device + " "):
                    kv = dict(x.split("=") for x in line.split()[1:])
                    total += int(kv.get("rbytes", 0)) + int(kv.get("wbytes", 0))
        else:
            for line in (cg / "blkio.throttle.io_service_bytes").read_text().splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0] == applied.plan.device and parts[1] in (
                        "Read", "Write"):
                    total += int(parts[2])
    return total


def lift_throttle(applied: Applied) -> int:
    """Every process in the cgroup back to where it came from (or the parent); the cgroup
    removed. Returns how many processes were moved."""
    cg = Path(applied.cgroup)
    if not cg.exists():
        return 0
    moved = 0
    for _ in range(3):  # processes forked while we move them
        procs = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        if not procs:
            break
        for pid in procs:
            dest = Path(applied.origins.get(str(pid), str(cg.parent)))
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, OSError):
                (dest / "cgroup.procs").write_text(f"{pid}\n")
                moved += 1
    with contextlib.suppress(OSError):
        cg.rmdir()
    return moved


def evict_cache(paths: list[Path]) -> int:
    """Drop these files' pages from the page cache (``posix_fadvise DONTNEED``), so that
    their next reads hit the throttled disk; the rest of the machine's cache is untouched."""
    done = 0
    for p in paths:
        with contextlib.suppress(OSError):
            fd = os.open(p, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                done += 1
            finally:
                os.close(fd)
    return done


__all__ = ["Applied", "IoPlan", "apply_throttle", "disk_of", "evict_cache", "io_done",
           "lift_throttle", "plan_throttle"]
