"""One contract suite for every limits backend (memory, SQLite, Redis): atomic
check-and-consume; SQLite and Redis also across processes."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.plugins.system import need_tool
from vvtvlib.api.limits import LimitStore, MemoryStore, bucket_step, open_store
from vvtvlib.core.clock import FakeClock
from vvtvlib.core.errors import ConfigError
from vvtvlib.pool.emulator.process import free_port


@pytest.fixture(scope="module")
def redis_uri() -> Iterator[str]:
    exe = need_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL)
    import redis

    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            import time
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LimitStore]:
    uri = {"memory": "memory://", "sqlite": f"sqlite://{tmp_path / 'tenants.sqlite'}"}.get(
        request.param) or request.getfixturevalue("redis_uri")
    s = open_store(uri)
    yield s
    s.close()


def key() -> str:
    return "t:" + uuid.uuid4().hex


def test_hundred_threads_against_a_limit_of_five(store: LimitStore) -> None:
    k = key()
    with ThreadPoolExecutor(20) as ex:
        got = list(ex.map(lambda _: store.take(k, 5, 0.0001, 1).allowed, range(100)))
    assert got.count(True) == 5


def test_a_nonce_is_accepted_once_under_contention(store: LimitStore) -> None:
    k = key()
    with ThreadPoolExecutor(25) as ex:
        got = list(ex.map(lambda _: store.once(k, 600_000), range(50)))
    assert got.count(True) == 1
    assert store.once(key(), 600_000)


def test_reservations_never_overshoot(store: LimitStore) -> None:
    keys = [key(), key()]
    with ThreadPoolExecutor(20) as ex:
        got = list(ex.map(lambda _: store.reserve(keys, [1, 10], [100, 1000], [97, 0],
                                                   86_400_000), range(40)))
    ok = [r for r in got if r.allowed]
    assert len(ok) == 3  # seeded at 97 of 100
    assert max(r.used[0] for r in ok) == 100
    store.adjust(keys[0], -1)
    assert store.reserve(keys, [1, 0], [100, 1000], [0, 0], 1000).allowed


def test_weights_are_fractional_costs(store: LimitStore) -> None:
    k = key()
    allowed = sum(store.take(k, 1, 0.0001, 0.2).allowed for _ in range(8))
    assert allowed == 5  # 5 x 0.2 = one token


def test_retry_after_is_the_time_until_the_cost_is_back(store: LimitStore) -> None:
    k = key()
    assert store.take(k, 1, 0.5, 1).allowed
    d = store.take(k, 1, 0.5, 1)
    assert not d.allowed and 1.5 < d.retry_after_s <= 2.0


def test_force_takes_into_debt_and_gives_back(store: LimitStore) -> None:
    k = key()
    assert store.take(k, 10, 0.0001, 8).allowed
    d = store.take(k, 10, 0.0001, 5, force=True)  # settle: 5 more than reserved
    assert d.allowed and d.remaining == pytest.approx(-3, abs=0.01)
    assert not store.take(k, 10, 0.0001, 1).allowed
    d = store.take(k, 10, 0.0001, -20, force=True)  # a refund, capped at the capacity
    assert d.remaining == pytest.approx(10, abs=0.01)


def test_memory_bucket_refills_on_the_injected_clock() -> None:
    clock = FakeClock()
    s = MemoryStore(clock)
    assert [s.take("k", 3, 1.0, 1).allowed for _ in range(4)] == [True, True, True, False]
    clock.advance(1.0)
    assert s.take("k", 3, 1.0, 1).allowed and not s.take("k", 3, 1.0, 1).allowed
    clock.advance(100)
    assert sum(s.take("k", 3, 1.0, 1).allowed for _ in range(10)) == 3  # capped at capacity
    assert s.once("n", 1000) and not s.once("n", 1000)
    clock.advance(1.001)
    assert s.once("n", 1000)


def test_bucket_math() -> None:
    tokens, d = bucket_step(0.0, 0.0, 2.0, 10, 2.0, 1)  # 2 s x 2/s = 4, take 1
    assert d.allowed and tokens == pytest.approx(3.0)
    tokens, d = bucket_step(0.5, 0.0, 0.0, 10, 2.0, 1)
    assert not d.allowed and d.retry_after_s == pytest.approx(0.25)
    tokens, d = bucket_step(9.0, 0.0, 60.0, 10, 2.0, 1)
    assert tokens == pytest.approx(9.0)  # refilled to the cap, then one taken
    _, d = bucket_step(0.0, 0.0, 0.0, 10, 0.0, 1)
    assert not d.allowed and d.retry_after_s == float("inf")


def test_unknown_backend_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_store("etcd://x")
    assert shutil.which("bash")


def test_a_redis_outage_is_one_error_of_the_tree() -> None:
    from vvtvlib.api.errors import LimitsUnavailable
    from vvtvlib.api.pipeline import status_for

    exe = need_tool("redis-server")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
                            stdout=subprocess.DEVNULL)
    try:
        import time

        for _ in range(100):
            try:
                s = open_store(f"redis://127.0.0.1:{port}/0")
                break
            except Exception:
                time.sleep(0.05)
        assert s.once(key(), 1000)
    finally:
        proc.terminate()
        proc.wait(10)
    with pytest.raises(LimitsUnavailable) as exc:
        s.take(key(), 5, 1, 1)
    assert status_for(exc.value) == (503, "NOT_READY")


# -- SQLite: the workers of one node share data/tenants.sqlite ------------------------------
WORKER = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from vvtvlib.api.limits import open_store
uri, bucket, nonce, go = sys.argv[1:5]
s = open_store(uri)
while not Path(go).exists():
    time.sleep(0.005)
with ThreadPoolExecutor(5) as ex:
    took = list(ex.map(lambda _: s.take(bucket, 5, 0.0001, 1).allowed, range(25)))
    once = list(ex.map(lambda _: s.once(nonce, 600_000), range(10)))
print(took.count(True), once.count(True))
"""


def test_sqlite_is_shared_by_the_processes_of_one_node(tmp_path: Path) -> None:
    import os
    import sys

    uri = f"sqlite://{tmp_path / 'tenants.sqlite'}"
    open_store(uri).close()  # migrated once, as `api init` does
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    args = [uri, key(), f"nonce:t_x:{uuid.uuid4()}", str(go)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(4)]
    go.touch()
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(int(o[0]) for o in outs) == 5  # 100 takes from 4 processes, a limit of 5
    assert sum(int(o[1]) for o in outs) == 1  # 40 uses of one nonce


def test_sqlite_nonces_live_in_the_seeds_table_and_expire_by_ts(tmp_path: Path) -> None:
    import sqlite3

    from vvtvlib.api import limits_sqlite

    db = tmp_path / "tenants.sqlite"
    clock = FakeClock()
    s = open_store("sqlite://", clock, default_db=db)
    n = str(uuid.uuid4())
    assert s.once(f"nonce:t_a:{n}", 600_000) and not s.once(f"nonce:t_a:{n}", 600_000)
    assert s.once(f"nonce:t_b:{n}", 600_000)  # per tenant, as the seed's primary key says
    assert s.once("rotate:t_a", 1000) and not s.once("rotate:t_a", 1000)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT tenant_id, nonce, ts FROM nonces ORDER BY tenant_id").fetchall()
    t0 = int(clock.now().timestamp() * 1000)
    assert rows == [("t_a", n, t0), ("t_b", n, t0)]
    clock.advance(599.9)
    assert not s.once(f"nonce:t_a:{n}", 600_000)
    clock.advance(0.2)  # 10 min and 0.1 s after it was first seen: accepted again, ts moved
    assert s.once(f"nonce:t_a:{n}", 600_000) and not s.once(f"nonce:t_a:{n}", 600_000)
    assert con.execute("SELECT ts FROM nonces WHERE tenant_id = 't_a'").fetchone()[0] > t0
    clock.advance(limits_sqlite.GC_EVERY_S + 600)  # the next decision deletes what expired
    assert s.once(f"nonce:t_c:{uuid.uuid4()}", 600_000)
    assert [r[0] for r in con.execute("SELECT tenant_id FROM nonces")] == ["t_c"]
    assert con.execute("SELECT COUNT(*) FROM limit_once").fetchone()[0] == 0
    assert s.once("rotate:t_a", 1000)
    # the bucket on the injected clock, as in memory
    assert [s.take("k", 3, 1.0, 1).allowed for _ in range(4)] == [True, True, True, False]
    clock.advance(1.0)
    assert s.take("k", 3, 1.0, 1).allowed and not s.take("k", 3, 1.0, 1).allowed
    s.close()
    con.close()


def test_sqlite_needs_a_path_and_a_usable_file(tmp_path: Path) -> None:
    from vvtvlib.api.errors import LimitsUnavailable

    with pytest.raises(ConfigError):
        open_store("sqlite://")
    with pytest.raises(LimitsUnavailable):
        open_store(f"sqlite://{tmp_path}")  # a directory
