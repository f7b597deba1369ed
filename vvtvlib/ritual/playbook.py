"""``resurrection_playbook.md``: the seed's step-by-step revival guide for one snapshot.

Written into the snapshot folder before the manifest and listed among its artifacts, so the
playbook is covered by the signature: an operator holding the pinned foundation key can trust
the commands, hashes and expectations it states.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vvtvlib.core.fsio import atomic_write

PLAYBOOK = "resurrection_playbook.md"


def render(*, station_id: str, stamp: str, generation: int, key_id: str, profile: str,
           playout: dict[str, Any], archives: dict[str, Any]) -> str:
    rows = "\n".join(f"| `{name}` | {rec['size']} | `{rec['sha256']}` |"
                     for name, rec in sorted(archives.items()))
    item, offset = playout.get("item_id"), playout.get("offset_s")
    return f"""# Resurrection playbook — {station_id}, snapshot {stamp} (generation {generation})

Signed with the foundation key `{key_id}` as an artifact of `last_manifest.json`; trust it
only after step 2 has passed with the pinned public key.

1. **Provision the node.** FFmpeg (or the `imageio-ffmpeg` wheel){
", nginx and libnginx-mod-rtmp (profile `nginx-rtmp`)" if profile == "nginx-rtmp" else ""},
   minisign; pin the foundation public key from offline records:
   `install -D -m 644 foundation_ed25519.pub /vvtv/vault/keys/trusted/foundation.pub`.
2. **Verify** (nothing is written before this passes):
   `logline verify --snapshots <this folder> --pubkey /vvtv/vault/keys/trusted/foundation.pub`
   — the key id must be `{key_id}` and every archive must match:

   | archive | bytes | sha256 |
   |---|---:|---|
{rows}

3. **Revive** into the new root:
   `logline revive --snapshots <this folder> --target /vvtv --strict --prove-continuity`.
4. **Check continuity**: the broadcaster starts at item `{item}`, offset {offset} s (slot
   `{playout.get("slot_id")}`, plan `{playout.get("plan_id")}`);
   `resurrection_report.json` must say `"continuity": {{"passed": true}}` and the first frame
   after revival must match `final_frame.jpg`.
5. **Reactivation**: `vvtvctl status` shows planner and realizer running, the queue unfrozen
   and discovery held for 24 h.
6. **Record**: `vault/history/` gains generation {generation + 1} whose `ancestor_signature`
   is this snapshot's signature line; publish `vault/resurrection_report.json` and its `.sig`.
"""


def write_playbook(folder: Path, **fields: Any) -> Path:
    return atomic_write(folder / PLAYBOOK, render(**fields))
