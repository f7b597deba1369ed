"""One ordered worker thread, so reading, compressing, hashing and writing overlap on two
cores. hashlib, zstd and ``os.write`` release the GIL on large buffers.

Work runs in the order it is submitted; the queue is bounded so memory stays flat. An error
on the worker is raised in the submitting thread at the next ``submit`` or ``join``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

_SMALL = 64 * 1024  # below this a thread hand-off costs more than the work


class Background:
    def __init__(self, depth: int = 16, name: str = "vault-worker") -> None:
        self._q: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = \
            queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                item[0](*item[1])  # still run after an error: closes must happen
            except BaseException as exc:
                if self._error is None:
                    self._error = exc
            finally:
                self._q.task_done()

    def submit(self, fn: Callable[..., Any], *args: Any, size: int = _SMALL) -> None:
        """Queue ``fn(*args)``; arguments must not change afterwards (pass bytes)."""
        if self._error is not None:
            raise self._error
        # Small work runs inline when nothing is pending (only this thread submits, so a
        # zero count stays zero until the next put): the order is kept.
        if size < _SMALL and self._q.unfinished_tasks == 0:
            fn(*args)
        else:
            self._q.put((fn, args))

    def hash(self, h: Any, data: bytes) -> None:
        self.submit(h.update, data, size=len(data))

    def join(self) -> None:
        """Wait until everything submitted has run; raise the worker's error, if any."""
        self._q.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
