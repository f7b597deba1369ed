"""``last_transmission.md``: the seed's "Last Transmission Manifest" for humans (pure).

"Último slot, plano, duração executada, métricas finais…" — rendered from the journal and
the final-frame record, so the text never disagrees with what was signed.
"""

from __future__ import annotations

from typing import Any

from .journal import RitualJournal


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = f"{value:,.3f}".rstrip("0").rstrip(".")
    return f"{value}{(' ' + unit) if unit else ''}"


def render_last_transmission(journal: RitualJournal, final_frame: dict[str, Any],
                             archives: dict[str, dict[str, Any]]) -> str:
    kpis = final_frame.get("kpis", {})
    lines = [
        "# Last Transmission" + (" (rehearsal)" if journal.dry_run else ""),
        "",
        f"Station `{journal.station_id}`, snapshot `{journal.stamp}`, "
        f"generation {journal.generation}.",
        "",
        "## On air at the end",
        "",
        "| field | value |",
        "|---|---|",
        f"| last slot | {_fmt(final_frame.get('slot_id'))} |",
        f"| plan executed | {_fmt(final_frame.get('plan_id_executado'))} |",
        f"| item | {_fmt(final_frame.get('item_id'))} |",
        f"| offset in item | {_fmt(final_frame.get('offset_s'), 's')} |",
        f"| executed in the last slot | {_fmt(final_frame.get('executed_in_slot_s'), 's')} |",
        f"| encoder on air | {_fmt(final_frame.get('encoder_uptime_s'), 's')} |",
        f"| final frame captured | {_fmt(final_frame.get('ts_utc'))} |",
        "",
        "## Final metrics",
        "",
        "| metric | value |",
        "|---|---|",
        f"| stream bitrate | {_fmt(kpis.get('stream_bitrate'), 'bit/s')} |",
        f"| segment age | {_fmt(kpis.get('segment_age'), 's')} |",
        f"| SSIM vs mezzanine | {_fmt(kpis.get('ssim'))} |",
        f"| PSNR vs mezzanine | {_fmt(kpis.get('psnr_db'), 'dB')} |",
        f"| VMAF vs mezzanine | {_fmt(kpis.get('vmaf'))} |",
        f"| perceptual-hash distance | {_fmt(kpis.get('phash_distance'))} |",
        f"| viewers | {_fmt(kpis.get('viewer_count'))} |",
        "",
        "## Snapshot",
        "",
        "| archive | size | files | sha256 |",
        "|---|---|---|---|",
    ]
    for name, rec in sorted(archives.items()):
        files = sum(1 for f in rec.get("files", []) if f.get("type") == "file")
        lines.append(f"| {name} | {rec.get('size', 0):,} B | {files} | "
                     f"`{str(rec.get('sha256', ''))[:16]}…` |")
    lines += [
        "",
        f"Manifest sha256 `{journal.manifest_sha256}`, signed with the foundation key "
        "(`signature.sig`, minisign format).",
        "",
        "## Steps",
        "",
        "| step | status | seconds |",
        "|---|---|---|",
    ]
    lines += [f"| {s.name} | {s.status.value} | {s.duration_s:.2f} |" for s in journal.steps]
    warnings = list(journal.warnings)
    if warnings:
        lines += ["", "## Warnings", ""] + [f"* {w}" for w in warnings]
    return "\n".join(lines) + "\n"
