"""Ordered worker threads chained into pipelines, so reading, hashing, compressing and
writing overlap on two cores. hashlib, zstd, ``os.read`` and ``os.write`` release the GIL on
large buffers.

A ``Background`` runs the work submitted to it in the order it was submitted, on one
thread; its queue is bounded (``depth`` items), so a fast producer waits for a slow consumer
and memory stays flat whatever the input. Stages chain: work on one stage may submit to the
next. The first error anywhere is kept and raised, as the same exception object, in the
thread that submits to the failed stage (at its next ``submit`` or ``join``), so an error in
a consumer reaches the producer as the one error; after it, queued work is skipped except
what was submitted with ``always=True`` (closing descriptors). ``inline=True`` runs every
submission in the caller's thread: the serial path, with the same calls in the same order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

_SMALL = 64 * 1024  # below this a thread hand-off costs more than the work

_Item = tuple[Callable[..., Any], tuple[Any, ...], bool]


class Background:
    def __init__(self, depth: int = 16, name: str = "vault-worker", *,
                 inline: bool = False) -> None:
        self.depth = depth
        self.inline = inline
        self._q: queue.Queue[_Item | None] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        if not inline:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    @property
    def error(self) -> BaseException | None:
        return self._error

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` (the first error wins): queued work is skipped from now on."""
        if self._error is None:
            self._error = exc

    def _call(self, fn: Callable[..., Any], args: tuple[Any, ...], always: bool) -> None:
        if self._error is not None and not always:
            return
        try:
            fn(*args)
        except BaseException as exc:
            self.fail(exc)

    def _run(self) -> None:
        while True:
            item = self._q.get()
            try:
                if item is None:
                    return
                self._call(*item)
            finally:
                self._q.task_done()

    def submit(self, fn: Callable[..., Any], *args: Any, size: int = _SMALL,
               always: bool = False) -> None:
        """Queue ``fn(*args)``; arguments must not change afterwards (pass bytes). Raises
        the stage's error, if it has one (``always`` work is still queued first)."""
        if self._error is not None:
            if always:
                self._put(fn, args, True)
            raise self._error
        self._put(fn, args, always, size)
        if self._error is not None and (self.inline or self._q.unfinished_tasks == 0):
            raise self._error  # it failed right here, inline

    def _put(self, fn: Callable[..., Any], args: tuple[Any, ...], always: bool,
             size: int = _SMALL) -> None:
        # Small work runs inline when nothing is pending (only one thread submits, so a
        # zero count stays zero until the next put): the order is kept.
        if self.inline or (size < _SMALL and self._q.unfinished_tasks == 0):
            self._call(fn, args, always)
        else:
            self._q.put((fn, args, always))

    def hash(self, h: Any, data: bytes) -> None:
        self.submit(h.update, data, size=len(data))

    def join(self) -> None:
        """Wait until everything submitted has run; raise the stage's error, if any."""
        if not self.inline:
            self._q.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Finish what is queued (skipped after an error) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._q.put(None)
            self._thread.join()

    def __enter__(self) -> Background:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is not None:
            self.fail(exc)  # the rest of the queue is moot
        self.close()
