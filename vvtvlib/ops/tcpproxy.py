"""A TCP proxy that adds latency: the gateway game day puts it between nginx and pool-api.

    python -m vvtvlib.ops.tcpproxy --listen PORT --to HOST:PORT --latency-ms N

Every chunk from the client (nginx) waits ``latency_ms`` before it goes upstream, so each
request is late by at least that much; answers flow back untouched. One asyncio loop; it
runs until SIGTERM.

Keep-alive: nginx reuses its connections to pool-api, and pool-api closes one that stayed
idle for its keep-alive timeout. Behind this proxy pool-api sees each request
``latency_ms`` later than nginx sent it, so a request nginx sends just before that timeout
can meet a connection pool-api has closed meanwhile: nginx would answer 502 ("upstream
prematurely closed"), an artefact of the proxy, not of the latency under test. So when
pool-api closes an idle connection (everything it was sent has been answered) while a
delayed chunk from nginx is still waiting, the proxy opens a new connection to pool-api and
sends it there: pool-api has seen none of it. A close with a request outstanding, or with
nothing waiting, is passed on to nginx as before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal


class _Link:
    """One client connection and its upstream connection (replaced when the upstream
    closes it while idle with a delayed chunk waiting)."""

    def __init__(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter, host: str,
                 port: int, delay_s: float) -> None:
        self.cr, self.cw, self.host, self.port, self.delay_s = cr, cw, host, port, delay_s
        self.ur: asyncio.StreamReader | None = None
        self.uw: asyncio.StreamWriter | None = None
        self.waiting = 0  # chunks read from the client, not yet written upstream
        self.outstanding = False  # bytes went upstream since its last answer
        self.closed_idle = False  # the upstream closed while idle: the next write reconnects
        self.reconnected = asyncio.Event()

    async def run(self) -> None:
        try:
            self.ur, self.uw = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.cw.close()
            return
        up = asyncio.ensure_future(self._to_upstream())
        down = asyncio.ensure_future(self._to_client())
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up.done() and not down.done():  # the client is done sending: let answers
                await down                     # in flight reach it
        finally:
            for t in (up, down):
                t.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            for w in (self.cw, self.uw):
                with contextlib.suppress(Exception):
                    if w is not None:
                        w.close()

    async def _to_upstream(self) -> None:
        try:
            await self._forward()
        finally:
            self.reconnected.set()  # no reconnect is coming: `_to_client` must not wait

    async def _forward(self) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await self.cr.read(65536):
                self.waiting += 1
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self.closed_idle:  # pool-api never saw this chunk: a new connection
                    self.ur, self.uw = await asyncio.open_connection(self.host, self.port)
                    self.closed_idle = False
                    self.reconnected.set()
                assert self.uw is not None
                self.uw.write(data)
                self.outstanding = True
                self.waiting -= 1
                await self.uw.drain()
            if self.uw is not None:
                with contextlib.suppress(OSError):
                    self.uw.write_eof()

    async def _to_client(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                assert self.ur is not None
                data = await self.ur.read(65536)
                if data:
                    self.outstanding = False
                    self.cw.write(data)
                    await self.cw.drain()
                    continue
                if self.waiting and not self.outstanding:  # idle close, a request waiting
                    self.reconnected.clear()
                    self.closed_idle = True
                    await self.reconnected.wait()
                    if self.closed_idle:  # the client went away, or no new connection
                        return
                    continue
                return  # a close to pass on to the client


async def serve(listen_port: int, host: str, port: int, latency_ms: float) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        await _Link(cr, cw, host, port, latency_ms / 1000).run()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vvtvlib.ops.tcpproxy")
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True, help="HOST:PORT")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    a = ap.parse_args(argv)
    host, _, port = a.to.rpartition(":")
    asyncio.run(serve(a.listen, host or "127.0.0.1", int(port), a.latency_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
