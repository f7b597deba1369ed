"""A TCP proxy that adds latency: the gateway game day puts it between nginx and pool-api.

    python -m vvtvlib.ops.tcpproxy --listen PORT --to HOST:PORT --latency-ms N

Every chunk from the client (nginx) waits ``latency_ms`` before it goes upstream, so each
request is late by at least that much; answers flow back untouched. One asyncio loop; it
runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                delay_s: float) -> None:
    try:
        while data := await reader.read(65536):
            if delay_s:
                await asyncio.sleep(delay_s)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def serve(listen_port: int, host: str, port: int, latency_ms: float) -> None:
    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(host, port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(_pipe(cr, uw, latency_ms / 1000), _pipe(ur, cw, 0.0))

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
