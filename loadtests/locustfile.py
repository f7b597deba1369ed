"""Load on pool-api's ``POST /v1/infer``, signed like the seed's curl client.

Run by ``vvtvctl api loadtest --profile NAME`` (``vvtvlib.api.loadtest``), which writes the
run's settings to a JSON file (0600: it holds a tenant secret) named by
``VVTV_LOAD_CONFIG``:

    {"hmac_users": 8, "jwt_users": 2, "abusive_users": 1, "rps": 10, "mix": "small",
     "key": ..., "secret": ..., "abusive_key": ..., "abusive_secret": ...,
     "root": "/vvtv", "tenant_id": ..., "distinct_payloads": 200, "samples": "out/x_samples.csv",
     "timeout_s": 10, "slo_p95_ms": 1200, "slo_5xx": 0.005}

User classes:
* ``HmacUser``: every request signed with a fresh millisecond timestamp and UUID nonce
  (``base64(HMAC-SHA256(secret, METHOD|PATH|BODY|TS|NONCE))``); respects ``Retry-After``.
* ``JwtUser``: ``Authorization: Bearer`` with a lab token (re-issued every 5 min, so a
  2-hour soak never sends an expired one); respects ``Retry-After``.
* ``AbusiveUser``: its own tenant (small bucket), HMAC, retries a 429 at once.

Task mix: ``small`` = ``expand_queries`` with a short seed; ``large`` = ``judge`` and
``rerank_candidates`` with 10-12 candidates; ``mixed`` = 4 small for 1 large. Payloads are
drawn from ``distinct_payloads`` variants, so repeats can be answered by the pool's cache.

Every answer is also kept as a sample (time, user class, task, status, ms, from_cache) and
written by the ``quitting`` listener, which sets the exit code from p95 and the 5xx ratio.
Locust's own percentiles (``--csv``) are bucketed (147 -> 150 ms): read them as approximate.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import random
import time
import uuid
from typing import Any

import gevent
from locust import FastHttpUser, constant_throughput, events, task

CFG: dict[str, Any] = {}
if os.environ.get("VVTV_LOAD_CONFIG"):
    with open(os.environ["VVTV_LOAD_CONFIG"], encoding="utf-8") as fh:
        CFG = json.load(fh)

if int(CFG.get("jwt_users", 0)) > 0:  # imported before the test starts, not in a request
    from vvtvlib.api import jwtauth
    from vvtvlib.api.config import ApiLayout, load_api_config

SAMPLES: list[tuple[float, str, str, int, float, int]] = []
T0 = time.time()


def _sign(secret: str, method: str, target: str, body: bytes, ts: str, nonce: str) -> str:
    msg = b"|".join((method.encode(), target.encode(), body, ts.encode(), nonce.encode()))
    return base64.b64encode(hmac.new(secret.encode(), msg, hashlib.sha256).digest()).decode()


def hmac_headers(key: str, secret: str, body: bytes, target: str = "/v1/infer",
                 method: str = "POST") -> dict[str, str]:
    ts, nonce = str(int(time.time() * 1000)), str(uuid.uuid4())
    return {"Content-Type": "application/json", "X-Api-Key": key, "X-Timestamp": ts,
            "X-Nonce": nonce, "X-Signature": _sign(secret, method, target, body, ts, nonce)}


def small_body(rng: random.Random) -> tuple[str, bytes]:
    i = rng.randrange(int(CFG.get("distinct_payloads", 200)))
    return "expand_queries", json.dumps({"task": "expand_queries", "strategy": "FASTEST",
                                         "payload": {"seed": f"jazz documentary {i}"}}).encode()


def large_body(rng: random.Random) -> tuple[str, bytes]:
    i = rng.randrange(int(CFG.get("distinct_payloads", 200)))
    n = 10 + i % 3  # 10-12 candidates
    cands = [{"id": f"v{j}", "text": f"programme {j} about topic {i}: archive footage, "
                                      f"interviews and a live set recorded in hall {j}"}
             for j in range(n)]
    if i % 2:
        body: dict[str, Any] = {"task": "judge", "strategy": "FASTEST",
                                "payload": {"query": f"best programme on topic {i}",
                                            "candidates": cands}}
    else:
        body = {"task": "rerank_candidates", "strategy": "FASTEST",
                "payload": {"query": f"topic {i}", "candidates": cands, "top_k": 5}}
    return str(body["task"]), json.dumps(body).encode()


def pick_body(rng: random.Random) -> tuple[str, bytes]:
    mix = CFG.get("mix", "small")
    if mix == "large" or (mix == "mixed" and rng.random() < 0.2):
        return large_body(rng)
    return small_body(rng)


def _per_user_rps() -> float:
    users = max(1, int(CFG.get("hmac_users", 1)) + int(CFG.get("jwt_users", 0)))
    return float(CFG.get("rps", 1)) / users


class _Signed(FastHttpUser):
    abstract = True
    wait_time = constant_throughput(_per_user_rps() or 1.0)
    network_timeout = float(CFG.get("timeout_s", 10))
    connection_timeout = 5.0
    kind = "hmac"
    respects_retry_after = True

    def auth(self, body: bytes) -> dict[str, str]:
        return hmac_headers(CFG["key"], CFG["secret"], body)

    @task
    def infer(self) -> None:
        name, body = pick_body(random.Random())
        headers = self.auth(body)  # signed before the clock starts: client work is not latency
        started = time.time()
        status, from_cache, retry_after = 0, 0, 0.0
        with self.client.post("/v1/infer", data=body, headers=headers,
                              name=f"{self.kind} {name}", catch_response=True) as resp:
            status = resp.status_code or 0
            if status == 200:
                try:
                    from_cache = int(bool(json.loads(resp.content or b"{}").get("from_cache")))
                except ValueError:
                    resp.failure("200 without a JSON body")
                else:
                    resp.success()
            elif status == 429:
                retry_after = float(resp.headers.get("Retry-After") or 1)
                if self.respects_retry_after:
                    resp.failure("HTTP 429")
                else:
                    resp.success()  # expected: the abusive client is being limited
            elif status == 0:
                resp.failure("timeout or connection error")
            else:
                resp.failure(f"HTTP {status}")
        SAMPLES.append((round(started - T0, 3), self.kind, name, status,
                        round((time.time() - started) * 1000, 2), from_cache))
        if retry_after and self.respects_retry_after:
            gevent.sleep(retry_after)


class HmacUser(_Signed):
    fixed_count = int(CFG.get("hmac_users", 1))
    kind = "hmac"


class JwtUser(_Signed):
    fixed_count = int(CFG.get("jwt_users", 0))
    kind = "jwt"
    _token: tuple[float, str] = (0.0, "")

    def on_start(self) -> None:
        if not JwtUser._token[1]:  # the first token before any request is timed
            JwtUser._token = (time.time(), _issue_jwt())

    def auth(self, body: bytes) -> dict[str, str]:
        issued, token = JwtUser._token
        if time.time() - issued > 300:
            token = _issue_jwt()
            JwtUser._token = (time.time(), token)
        return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


class AbusiveUser(_Signed):
    fixed_count = int(CFG.get("abusive_users", 0))
    kind = "abusive"
    respects_retry_after = False
    wait_time = constant_throughput(float(CFG.get("abusive_rps", 5)) or 1.0)

    def auth(self, body: bytes) -> dict[str, str]:
        return hmac_headers(CFG["abusive_key"], CFG["abusive_secret"], body)


def _issue_jwt() -> str:
    root = CFG["root"]
    cfg, lay = load_api_config(root), ApiLayout(root)
    return jwtauth.issue(lay.keys, lay.jwks, tenant_id=CFG["tenant_id"], scopes=["infer"],
                         ttl_s=600, issuer=cfg.auth.jwt_issuer, audience=cfg.auth.jwt_audience)


@events.quitting.add_listener
def on_quitting(environment: Any, **_kw: Any) -> None:
    """Write every sample; exit 1 when p95 or the 5xx ratio of well-behaved users is over
    the SLO (the summary in ``vvtvlib.api.loadtest`` says which)."""
    path = CFG.get("samples")
    if path:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["t_s", "user", "task", "status", "ms", "from_cache"])
            w.writerows(SAMPLES)
    good = [s for s in SAMPLES if s[1] != "abusive"]
    if not good:
        environment.process_exit_code = 1
        return
    ms = sorted(s[4] for s in good)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    rate_5xx = sum(1 for s in good if s[3] >= 500 or s[3] == 0) / len(good)
    over = p95 > float(CFG.get("slo_p95_ms", 1200)) or rate_5xx >= float(CFG.get("slo_5xx",
                                                                                  0.005))
    environment.process_exit_code = 1 if over else 0
