"""M3 resurrection: verify a signed snapshot, restore it on a new node, prove continuity,
reactivate the station and leave a signed report and a new generation in its history.

    revive(RevivalOptions(snapshots=..., target=..., pubkey=..., prove_continuity=True))
        -> RevivalReport            (or raises the error that stopped it, report attached
                                     as ``exc.journal``)

Concepts, one module each: ``phases`` (the phases, findings and the report; the phases run
on the core step runner, ``vvtvlib.core.steps``), ``provision``, ``verify``, ``restore``
(staging, content gate, schema migrations), ``sanity`` (databases, versions, encoder
preset), ``proof`` and ``continuity`` (the frame/playout proof and its pure decision),
``blocklist`` (content gate), ``presets`` (encoder adaptation), ``report`` (node key, signed
report, hash-chained log), ``flow`` (the sequence). The generation history (lineage and
rollback protection) lives in the vault: ``vvtvlib.vault.history``.
"""

from .blocklist import Blocklist, ContentBlocked, load_blocklist
from .continuity import ContinuityVerdict, Measurement, Position, Thresholds, decide
from .flow import revive
from .options import RevivalOptions, parse_verify_pair
from .phases import PHASES, Finding, Phase, RevivalReport
from .presets import Adaptation, EncoderCaps, adapt_encoder

__all__ = [
    "Adaptation", "Blocklist", "ContentBlocked", "ContinuityVerdict", "EncoderCaps", "Finding",
    "Measurement", "PHASES", "Phase", "Position", "RevivalOptions", "RevivalReport",
    "Thresholds", "adapt_encoder", "decide", "load_blocklist", "parse_verify_pair", "revive",
]
