"""Pure comparison of what a guarded path should be against what was seen."""

from __future__ import annotations

from collections.abc import Iterable

from .model import Divergence, GuardedEntry, Observed


def compare_entry(exp: GuardedEntry, obs: Observed | None) -> list[Divergence]:
    """Metadata divergences of one path (content is compared separately, when hashed)."""
    if obs is None:
        return [Divergence(exp.path, "missing", exp.type, None)]
    if obs.type != exp.type:
        return [Divergence(exp.path, "type", exp.type, obs.type)]
    out: list[Divergence] = []
    if exp.type == "file" and obs.size != exp.size:
        out.append(Divergence(exp.path, "size", exp.size, obs.size))
    if exp.type == "symlink" and obs.target != exp.target:
        out.append(Divergence(exp.path, "content", exp.target, obs.target))
    if obs.mtime_ns != exp.mtime_ns:
        out.append(Divergence(exp.path, "mtime", exp.mtime_ns, obs.mtime_ns))
    if obs.mode != exp.mode:
        out.append(Divergence(exp.path, "mode", f"{exp.mode:04o}", f"{obs.mode:04o}"))
    if (obs.uid, obs.gid) != (exp.uid, exp.gid):
        out.append(Divergence(exp.path, "owner", f"{exp.uid}:{exp.gid}", f"{obs.uid}:{obs.gid}"))
    if exp.immutability == "chattr" and obs.immutable is not True:
        out.append(Divergence(exp.path, "flag", "immutable",
                              "not immutable" if obs.immutable is False else "flags unreadable"))
    return out


def compare_content(exp: GuardedEntry, sha256: str) -> Divergence | None:
    if exp.sha256 is not None and sha256 != exp.sha256:
        return Divergence(exp.path, "content", exp.sha256, sha256)
    return None


def new_paths(expected: Iterable[str], seen: Iterable[str]) -> list[Divergence]:
    known = set(expected)
    return [Divergence(p, "new", None, "present") for p in sorted(set(seen) - known)]


def disk_divergence(path: str, free_pct: float, min_free_pct: float) -> Divergence | None:
    if free_pct < min_free_pct:
        return Divergence(path, "disk", f">= {min_free_pct:g}% free", f"{free_pct:.2f}% free")
    return None
