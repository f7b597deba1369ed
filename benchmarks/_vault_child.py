"""The vault benchmark's measured children: our writer and our restorer, each run in its own
process by ``bench_vault.py`` (so process start and imports are part of the time measured).
Only what the step needs is imported.

    python benchmarks/_vault_child.py write ROOT OUT
    python benchmarks/_vault_child.py restore OUT TARGET
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ARCHIVES = {  # archive -> (selection relative to the station root) as the ritual writes them
    "snapshot_db.tar.zst": ["data"],
    "snapshot_system.tar.zst": ["system"],
    "snapshot_data.tar.zst": ["storage/ready", "broadcast/hls"],
}


def write(root: Path, out: Path) -> None:
    """Consistent database copies, the three archives side by side, the manifest."""
    import importlib
    import shutil
    import threading

    from vvtvlib.vault.snapshot import ArchiveSpec, write_archives
    from vvtvlib.vault.sqlite import snapshot_databases

    # The manifest model (pydantic, about 0.1 s to import) loads while the archives are
    # written: the archive stages spend their time in hashlib, zstd and system calls.
    loader = threading.Thread(target=importlib.import_module, args=("vvtvlib.vault.schema",))
    loader.start()
    staging = out / ".db-staging"
    specs = [ArchiveSpec(out / name, staging if name == "snapshot_db.tar.zst" else root,
                         tuple(selection),
                         prepare=(lambda: snapshot_databases(root / "data", staging))
                         if name == "snapshot_db.tar.zst" else None)
             for name, selection in ARCHIVES.items()]
    specs.sort(key=lambda s: s.prepare is None)  # the database copy starts first
    records = write_archives(specs)
    shutil.rmtree(staging)
    loader.join()
    from vvtvlib.vault.schema import build_manifest, write_manifest
    manifest = build_manifest(station_id="bench", stamp="bench", generation=1,
                              archives={k: r.to_manifest() for k, r in records.items()})
    write_manifest(out / "last_manifest.json", manifest)


def restore(out: Path, target: Path) -> None:
    """Every archive restored, staged, into ``target``: its size checked first, its sha256
    as it is decompressed (one pass), each file's sha256 as it is written."""
    from vvtvlib.vault.restore import restore_archives
    from vvtvlib.vault.schema import load_manifest
    manifest = load_manifest(out / "last_manifest.json")
    restore_archives([(out / name, rec) for name, rec in sorted(manifest.archives.items())],
                     target)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("write", "restore"):
        raise SystemExit(__doc__)
    {"write": write, "restore": restore}[sys.argv[1]](Path(sys.argv[2]), Path(sys.argv[3]))
