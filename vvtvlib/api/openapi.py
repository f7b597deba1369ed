"""The OpenAPI 3.1 document of the public API, built from the code that serves it.

``document()`` takes the error codes from ``errors.ERROR_CODES``, the tasks, strategies and
their JSON Schemas from the pool, and the routes from ``ROUTES`` (a test checks them against
pool-api's own route table). ``docs/openapi.json`` in the repository and ``api/openapi.json``
on a station root (written by ``vvtvctl api init``) are ``render()``'s bytes; regenerate the
repository's copy with ``python -m vvtvlib.api.openapi --out docs/openapi.json``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vvtvlib.core.fsio import atomic_write
from vvtvlib.pool.records import Strategy
from vvtvlib.pool.tasks import TASKS, schema

from .errors import ERROR_CODES


@dataclass(frozen=True)
class RouteDoc:
    path: str
    method: str
    scope: str | None  # None: no authentication
    summary: str
    statuses: tuple[int, ...]  # the error statuses this route can answer


AUTHENTICATED = (400, 401, 403, 405, 409, 413, 429, 500, 503)
ROUTES: tuple[RouteDoc, ...] = (
    RouteDoc("/v1/health/ready", "GET", None, "200 when at least one provider is healthy",
             (400, 405, 500, 503)),
    RouteDoc("/v1/infer", "POST", "infer", "One task through the pool (weight 1, quota)",
             (*AUTHENTICATED, 402, 422, 502, 504)),
    RouteDoc("/v1/usage", "GET", "usage", "The caller's own usage (weight 0.2)",
             (*AUTHENTICATED, 422)),
    RouteDoc("/v1/keys/rotate", "POST", "keys:rotate",
             "A new key now, the old one for 7 days (once per 24 h)", AUTHENTICATED),
)

HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {"description": "The request's id (the gateway's), also in the body.",
                     "schema": {"type": "string"}},
    "X-Content-Type-Options": {"description": "Always nosniff.",
                               "schema": {"type": "string", "const": "nosniff"}},
    "Retry-After": {"description": "Whole seconds (>= 1) until a retry can pass.",
                    "schema": {"type": "integer", "minimum": 1}},
    "X-Quota-Warning": {"description": "80% or 90% of the monthly quota is used.",
                        "schema": {"type": "string", "enum": ["80%", "90%"]}},
    "Allow": {"description": "The method the route takes.", "schema": {"type": "string"}},
}

HMAC_DOC = ("Sign `METHOD|TARGET|BODY|TS|NONCE` with HMAC-SHA256 under the secret and send "
            "base64 of it as X-Signature, with X-Api-Key, X-Timestamp (epoch ms, within "
            "5 min) and X-Nonce (a UUID, once per 10 min).")


def codes_for(status: int) -> list[str]:
    return [c.code for c in ERROR_CODES if status in c.statuses]


def _headers(*names: str) -> dict[str, Any]:
    return {n: {"$ref": f"#/components/headers/{n}"} for n in names}


def _error_response(status: int) -> dict[str, Any]:
    codes = codes_for(status)
    when = "; ".join(f"{c.code}: {c.when}" for c in ERROR_CODES if c.code in codes)
    names = ["X-Request-Id", "X-Content-Type-Options"]
    if status == 429:
        names.append("Retry-After")
    if status == 405:
        names.append("Allow")
    return {"description": when, "headers": _headers(*names),
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": "#/components/schemas/Error"},
                {"properties": {"error": {"enum": codes}}}]}}}}


def _task_schemas() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in TASKS:
        for part in ("payload", "content"):
            s = {k: v for k, v in schema(t, part).items() if k != "$schema"}
            out[f"{t}.{part}"] = s
    return out


def _components() -> dict[str, Any]:
    by_task = [{"if": {"properties": {"task": {"const": t}}, "required": ["task"]},
                "then": {"properties": {"payload": {
                    "$ref": f"#/components/schemas/{t}.payload"}}}} for t in TASKS]
    schemas: dict[str, Any] = {
        "Error": {"type": "object", "additionalProperties": False,
                  "required": ["error", "message", "request_id"],
                  "properties": {
                      "error": {"type": "string", "enum": [c.code for c in ERROR_CODES],
                                "description": "; ".join(
                                    f"{c.code} ({'/'.join(map(str, c.statuses))}"
                                    f"{', extension' if c.extension else ''})"
                                    for c in ERROR_CODES)},
                      "message": {"type": "string", "description": "One sentence."},
                      "request_id": {"type": "string"}}},
        "InferRequest": {
            "type": "object", "additionalProperties": False, "required": ["task", "payload"],
            "properties": {
                "task": {"type": "string", "enum": list(TASKS)},
                "strategy": {"type": "string", "enum": [s.value for s in Strategy],
                             "default": "FASTEST"},
                "payload": {"type": "object",
                            "description": "The task's payload schema (api/schemas/)."},
                "hints": {"type": "object", "additionalProperties": False, "properties": {
                    "deadline_ms": {"type": "integer", "minimum": 1, "maximum": 600000},
                    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 600000}}}},
            "allOf": by_task},
        "InferResponse": {
            "type": "object",
            "required": ["request_id", "tenant_id", "winner_model", "strategy_used",
                         "duration_ms", "from_cache", "content"],
            "properties": {
                "request_id": {"type": "string"}, "tenant_id": {"type": "string"},
                "winner_model": {"type": "string"},
                "strategy_used": {"type": "string", "enum": [s.value for s in Strategy]},
                "duration_ms": {"type": "number"}, "from_cache": {"type": "boolean"},
                "content": {"type": "object",
                            "description": "The task's content schema (api/schemas/)."}}},
        "Health": {"type": "object", "required": ["status", "request_id", "providers"],
                   "properties": {"status": {"const": "ready"},
                                  "request_id": {"type": "string"},
                                  "providers": {"type": "array", "items": {"type": "object"}}}},
        "Usage": {"type": "object", "required": ["request_id", "tenant_id", "from", "to",
                                                 "requests", "by_route", "plan", "quota"],
                  "properties": {"request_id": {"type": "string"},
                                 "tenant_id": {"type": "string"},
                                 "from": {"type": "string"}, "to": {"type": "string"},
                                 "requests": {"type": "integer"},
                                 "by_route": {"type": "object"}, "plan": {"type": "string"},
                                 "quota": {"type": "object"}}},
        "Credentials": {"type": "object",
                        "required": ["request_id", "tenant_id", "api_public_key",
                                     "api_secret", "old_key_expires_at"],
                        "properties": {"request_id": {"type": "string"},
                                       "tenant_id": {"type": "string"},
                                       "api_public_key": {"type": "string"},
                                       "api_secret": {"type": "string"},
                                       "old_key_expires_at": {"type": ["integer", "null"]}}},
        **_task_schemas(),
    }
    return {
        "securitySchemes": {
            "hmac": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                     "description": HMAC_DOC},
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "EdDSA, ES256 or RS256; kid in jwks.json; claims "
                                      "tenant_id, scopes, exp, iat (exp - iat <= 15 min)."},
            "mtls": {"type": "mutualTLS",
                     "description": "A client certificate from the lab CA, through the "
                                    "gateway's TLS port; its CN maps to a tenant."}},
        "headers": HEADERS, "schemas": schemas}


SUCCESS = {"/v1/health/ready": "Health", "/v1/infer": "InferResponse", "/v1/usage": "Usage",
           "/v1/keys/rotate": "Credentials"}


def _operation(r: RouteDoc) -> dict[str, Any]:
    ok_headers = ["X-Request-Id", "X-Content-Type-Options"]
    if r.path == "/v1/infer":
        ok_headers.append("X-Quota-Warning")
    responses: dict[str, Any] = {"200": {
        "description": "OK", "headers": _headers(*ok_headers),
        "content": {"application/json": {"schema": {
            "$ref": f"#/components/schemas/{SUCCESS[r.path]}"}}}}}
    for status in sorted(r.statuses):
        responses[str(status)] = _error_response(status)
    op: dict[str, Any] = {"operationId": r.path.removeprefix("/v1/").replace("/", "_"),
                          "summary": r.summary, "responses": responses}
    if r.scope is None:
        op["security"] = []
    else:
        op["security"] = [{"hmac": []}, {"bearer": []}, {"mtls": []}]
        op["x-scope"] = r.scope
    if r.method == "POST" and r.path == "/v1/infer":
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/InferRequest"}}}}
    if r.path == "/v1/usage":
        op["parameters"] = [
            {"name": n, "in": "query", "required": False, "schema": {"type": "string"},
             "description": d} for n, d in (
                ("from", "ISO date or time (UTC) or epoch ms; default: this month"),
                ("to", "ISO date or time (UTC) or epoch ms; default: now"),
                ("tenant_id", "the caller's own id only (else 403)"))]
    return op


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in ROUTES:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r)
    return {
        "openapi": "3.1.0",
        "info": {"title": "VVTV pool-api", "version": "1",
                 "description": "The public API over the LLM pool. Every error body is "
                                "Error; unknown routes answer 404 NOT_FOUND. Codes marked "
                                "extension cover cases the seed does not."},
        "servers": [{"url": "https://127.0.0.1:7443", "description": "gateway, TLS"},
                    {"url": "http://127.0.0.1:7071", "description": "gateway"},
                    {"url": "http://127.0.0.1:7070", "description": "pool-api (embedded)"}],
        "paths": paths, "components": _components()}


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vvtvlib.api.openapi")
    ap.add_argument("--out", type=Path, help="write here (default: print)")
    a = ap.parse_args(argv)
    if a.out:
        atomic_write(a.out, render())
    else:
        print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
