"""Game days: the pieces (the end-to-end encoder restart is ``features/o_gamedays.feature``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from vvtvlib.core.errors import DependencyMissing
from vvtvlib.ops.gamedays import longest_above
from vvtvlib.ops.iothrottle import apply_throttle, disk_of, lift_throttle, plan_throttle


def test_longest_stretch_above_a_threshold() -> None:
    pts = [(0, 5), (1, 11), (2, 12), (3, 13), (4, 4), (5, 11), (6, 2)]
    assert longest_above(pts, 10) == 2
    assert longest_above(pts, 20) == 0


def test_the_io_throttle_names_its_mechanism_and_lifts(tmp_path: Path) -> None:
    """On this kernel: v2 io.max or v1 blkio.throttle, applied to a real process, lifted."""
    plan = plan_throttle(tmp_path)
    assert plan.mechanism in ("cgroup2 io.max", "cgroup1 blkio.throttle")
    proc = subprocess.Popen(["sleep", "30"])
    try:
        applied = apply_throttle(plan, [proc.pid], 1 << 20, f"vvtv-test-{os.getpid()}")
        cg = Path(applied.cgroup)
        assert str(proc.pid) in (cg / "cgroup.procs").read_text().split()
        limit = (cg / ("io.max" if "io.max" in plan.mechanism
                       else "blkio.throttle.read_bps_device")).read_text()
        assert plan.device in limit and str(1 << 20) in limit
        assert lift_throttle(applied) == 1
        assert not cg.exists()
        assert f"vvtv-test-{os.getpid()}" not in Path(f"/proc/{proc.pid}/cgroup").read_text()
    finally:
        proc.kill()
        proc.wait()


def test_a_path_without_a_block_device_is_refused() -> None:
    with pytest.raises(DependencyMissing, match="cannot throttle"):
        disk_of("/proc")


def test_the_latency_proxy_passes_bytes_through_late(tmp_path: Path) -> None:
    import socket
    import sys
    import threading
    import time

    from vvtvlib.ops.obs import free_port

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def echo() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(100)
                if data:
                    conn.sendall(data.upper())
    threading.Thread(target=echo, daemon=True).start()
    port = free_port()
    proxy = subprocess.Popen([sys.executable, "-m", "vvtvlib.ops.tcpproxy", "--listen",
                              str(port), "--to", f"127.0.0.1:{server.getsockname()[1]}",
                              "--latency-ms", "300"])
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            t0 = time.monotonic()
            c.sendall(b"ping")
            assert c.recv(100) == b"PING"
            assert time.monotonic() - t0 >= 0.3  # a lower bound: the proxy slept first
    finally:
        proxy.terminate()
        proxy.wait(10)
        server.close()
