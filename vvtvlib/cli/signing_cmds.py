"""``logline keygen|sign|verify``: minisign-compatible Ed25519 keys and signatures, and the
whole-folder check of a snapshot (signature with a pinned key, then every hash and size)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vvtvlib.core.errors import UsageError
from vvtvlib.core.layout import StationLayout
from vvtvlib.vault.folder import CheckedFile, verify_snapshot
from vvtvlib.vault.minisign import generate_keypair, sign_file, verify_file
from vvtvlib.vault.trust import TrustAnchor, resolve_station_keys

from .common import JsonOpt, RootOpt, console, emit_json, errors_to_exit, progress


def _trusted_pairs(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"--trusted {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value
    return out


def keygen(out: Annotated[Path, typer.Option("--out",
                                             help="Secret key path (public key: PATH.pub).")],
           comment: Annotated[str | None, typer.Option(
               "--comment", help="Untrusted comment for the keys.")] = None,
           force: Annotated[bool, typer.Option("--force",
                                               help="Overwrite existing key files.")] = False,
           as_json: bool = JsonOpt) -> None:
    """Create an Ed25519 key pair in minisign format (secret key 0600, no password)."""
    with errors_to_exit(as_json):
        pub = generate_keypair(out, comment, overwrite=force)
        pub_path = out.with_name(out.name + ".pub")
        if as_json:
            emit_json({"ok": True, "secret_key": str(out), "public_key": str(pub_path),
                       "key_id": pub.id_hex, "public_key_base64": pub.to_base64()})
        else:
            console.print(f"[green]ok[/]: key {pub.id_hex}: secret {out} (0600), public {pub_path}",
                          highlight=False, soft_wrap=True)


def sign(key: Annotated[Path, typer.Option("--key", help="Secret key (minisign format, 0600).")],
         in_: Annotated[Path, typer.Option("--in", help="File to sign.")],
         out: Annotated[Path, typer.Option("--out", help="Signature file to write.")],
         trusted: Annotated[list[str] | None, typer.Option(
             "--trusted", help="key=value for the trusted comment (repeat).")] = None,
         as_json: bool = JsonOpt) -> None:
    """Sign a file (prehashed ED signature; trusted comment with timestamp and file)."""
    with errors_to_exit(as_json):
        if not in_.is_file():
            raise UsageError(f"file to sign {in_} does not exist", path=in_)
        comment = sign_file(key, in_, out, _trusted_pairs(trusted or []))
        if as_json:
            emit_json({"ok": True, "file": str(in_), "signature": str(out),
                       "trusted_comment": comment})
        else:
            console.print(f"[green]ok[/]: signed {in_} -> {out}", highlight=False,
                          soft_wrap=True)


def verify(pubkey: Annotated[Path | None, typer.Option(
               "--pubkey", help="Pinned public key (.pub) or a folder of them.")] = None,
           in_: Annotated[Path | None, typer.Option("--in", help="Signed file.")] = None,
           sig: Annotated[Path | None, typer.Option("--sig", help="Signature file.")] = None,
           snapshots: Annotated[Path | None, typer.Option(
               "--snapshots", help="A snapshot folder to verify as a whole.")] = None,
           allow_legacy: Annotated[bool, typer.Option(
               "--allow-legacy", help="Accept legacy (non-prehashed) signatures.")] = False,
           root: str = RootOpt, as_json: bool = JsonOpt) -> None:
    """Verify a signature, or a whole snapshot folder.

    With --snapshots DIR: the signature of last_manifest.json with the pinned key, then the
    size and sha256 of every archive and artifact. Exit 1 when anything does not match, and
    when no key is pinned or --pubkey lies inside the snapshot folder."""
    with errors_to_exit(as_json):
        if snapshots is None and (in_ is None or sig is None):
            raise UsageError("pass --in FILE --sig SIG, or --snapshots DIR")
        # The vault's one trust resolver: --pubkey, else the station's pinned keys; a key
        # lying inside the snapshot folder being verified is refused (UntrustedKey, exit 1).
        anchor = resolve_station_keys(StationLayout.at(root), pubkey=pubkey,
                                      snapshot_dir=snapshots)
        if snapshots is not None:
            _verify_folder(snapshots, anchor, sig, as_json)
            return
        assert in_ is not None and sig is not None
        result = verify_file(anchor.keys, in_, sig, allow_legacy=allow_legacy)
        if as_json:
            emit_json({"ok": True, "file": str(in_), "signature": str(sig),
                       "key_id": result.key_id, "trusted_comment": result.trusted_comment,
                       "fields": result.fields})
        else:
            console.print(f"[green]ok[/]: {in_}: signature by key {result.key_id} verified",
                          highlight=False, soft_wrap=True)
            console.print(f"trusted comment: {result.trusted_comment}", highlight=False,
                          soft_wrap=True)


def _verify_folder(folder: Path, anchor: TrustAnchor, sig: Path | None, as_json: bool) -> None:
    with progress(enabled=not as_json) as bar:
        task = bar.add_task(f"verifying {folder.name}", total=None)

        def seen(item: CheckedFile, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"verified {item.name}")

        result = verify_snapshot(folder, anchor, sig_path=sig, observer=seen)
    if as_json:
        emit_json(result.to_dict())
        return
    m = result.manifest
    console.print(f"[green]ok[/]: snapshot {folder}: station {m.station_id}, generation "
                  f"{m.generation}, stamp {m.stamp}; signature by key "
                  f"{result.signature.key_id}", highlight=False, soft_wrap=True)
    for item in result.checked:
        console.print(f"  {item.kind:8s} {item.name}  {item.size} bytes  sha256 {item.sha256}",
                      highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("keygen")(keygen)
    app.command("sign")(sign)
    app.command("verify")(verify)
