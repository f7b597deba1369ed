"""Token counting shared by the emulator and the pool: words and punctuation marks.

Not a model's tokenizer, but a real count of the text sent and returned, so usage and
quotas move with the size of what was exchanged.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def canonical_json(value: Any) -> str:
    """The one canonical form: sorted keys, no spaces, ASCII (so it fits on one line)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
