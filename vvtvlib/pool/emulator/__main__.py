"""``python -m vvtvlib.pool.emulator --model NAME --port P [--latency-ms 300:900] ...``."""

from __future__ import annotations

import argparse
import sys

from .app import EmulatorSettings, parse_latency, serve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vvtvlib.pool.emulator", description=__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--latency-ms", default="0")
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--messy-rate", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--log", default=None,
                   help="JSONL file: one line per call with the caller's W3C trace")
    args = p.parse_args(argv)
    try:
        median, p95 = parse_latency(args.latency_ms)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve(EmulatorSettings(args.model, median, p95, args.error_rate, args.messy_rate, args.seed),
          host=args.host, port=args.port, log=args.log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
