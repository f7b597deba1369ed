"""The error codes and the OpenAPI document against what pool-api and the gateway emit.

Every code comes from one list (``vvtvlib.api.errors.ERROR_CODES``); this collects what the
code can emit (each error class ``status_for`` maps, its subclasses, every ``code = "..."``
in the API and pool sources, the fallback routes, the gateway's own error bodies) and checks
it against that list, the README's table and ``docs/openapi.json``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

import vvtvlib
import vvtvlib.pool.errors  # noqa: F401  (every error class is a subclass by now)
from vvtvlib.api import openapi
from vvtvlib.api.errors import ERROR_CODES, INTERNAL_ERROR, METHOD_NOT_ALLOWED, NOT_FOUND
from vvtvlib.api.lab import ApiLab
from vvtvlib.api.pipeline import STATUS, status_for

REPO = Path(__file__).resolve().parents[2]
PKG = Path(vvtvlib.__file__).resolve().parent
DOCUMENTED = {c.code: set(c.statuses) for c in ERROR_CODES}
NGINX_BODY = re.compile(r"""return (\d{3}) '\{"error":"([A-Z_]+)\"""")


def _subclasses(cls: type) -> list[type]:
    out = [cls]
    for sub in cls.__subclasses__():
        out += _subclasses(sub)
    return out


def emitted_by_status_for() -> set[tuple[int, str]]:
    """Each class the pipeline maps, and each subclass of it, raised once."""
    found = set()
    for cls, _ in STATUS:
        for c in _subclasses(cls):
            found.add(status_for(c("x")))
    found.add(status_for(RuntimeError("x")))
    return found


def code_attributes() -> set[str]:
    """Every ``code = "..."`` class attribute under vvtvlib/api and vvtvlib/pool."""
    codes = set()
    for path in [*(PKG / "api").rglob("*.py"), *(PKG / "pool").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, ast.Assign) and \
                            any(isinstance(t, ast.Name) and t.id == "code"
                                for t in stmt.targets) and \
                            isinstance(stmt.value, ast.Constant):
                        codes.add(str(stmt.value.value))
    return codes


def emitted_by_the_gateway() -> set[tuple[int, str]]:
    text = (PKG / "api/templates/nginx.conf.tmpl").read_text()
    return {(int(s), c) for s, c in NGINX_BODY.findall(text)}


def test_every_code_the_app_can_emit_is_documented(lab: ApiLab) -> None:
    emitted = emitted_by_status_for() | emitted_by_the_gateway()
    r404 = lab.call(None, "GET", "/v1/nothing")
    r405 = lab.call(None, "DELETE", "/v1/usage")
    emitted |= {(r404.status_code, r404.json()["error"]),
                (r405.status_code, r405.json()["error"])}
    assert (404, NOT_FOUND) in emitted and (405, METHOD_NOT_ALLOWED) in emitted
    assert (500, INTERNAL_ERROR) in emitted and (503, "DRAINED") in emitted
    for status, code in emitted:
        assert status in DOCUMENTED.get(code, set()), (status, code)
    assert code_attributes() <= set(DOCUMENTED)
    # and nothing documented that nothing emits
    assert {c for _, c in emitted} == set(DOCUMENTED)
    assert {(s, c) for c, ss in DOCUMENTED.items() for s in ss} == emitted
    assert [c.code for c in ERROR_CODES if not c.extension] == [
        "AUTH_FAILED", "NONCE_REPLAY", "BODY_TOO_LARGE", "SCHEMA_INVALID", "QUOTA_EXCEEDED",
        "RATE_LIMITED", "PROVIDER_FAILED", "NOT_READY", "DEADLINE_EXCEEDED"]  # SPEC 5


def test_405_names_the_method_and_404_keeps_the_headers(lab: ApiLab) -> None:
    r = lab.call(None, "PUT", "/v1/health/ready")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert r.headers["x-request-id"] == r.json()["request_id"]
    r = lab.call(None, "GET", "/v1/infer")
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = lab.call(None, "GET", "/nothing")
    assert r.status_code == 404 and r.headers["x-content-type-options"] == "nosniff"


def test_metrics_only_for_a_loopback_client_not_through_a_proxy(lab: ApiLab) -> None:
    r = lab.call(None, "GET", "/metrics")
    assert r.status_code == 200 and r.headers["x-request-id"]
    assert r.headers["x-content-type-options"] == "nosniff"
    for h in ({"X-Gateway-Token": lab.gateway.gateway_token.decode()},
              {"X-Real-IP": "203.0.113.9"}, {"X-Forwarded-For": "203.0.113.9"}):
        r = lab.call(None, "GET", "/metrics", headers=h)
        assert r.status_code == 404 and r.json()["error"] == NOT_FOUND, h
        assert "api_requests_total" not in r.text


def readme_error_table() -> set[tuple[int, str]]:
    text = (REPO / "README.md").read_text()
    start = text.index("| status | code | when |")
    rows = text[start:].split("\n\n", 1)[0].splitlines()[2:]
    out = set()
    for row in rows:
        m = re.match(r"\| (\d{3}) \| `([A-Z_]+)`", row)
        assert m, row
        out.add((int(m.group(1)), m.group(2)))
    return out


def test_the_readme_table_lists_every_code() -> None:
    assert readme_error_table() == {(s, c) for c, ss in DOCUMENTED.items() for s in ss}


def test_the_openapi_document_is_current_valid_and_complete(lab: ApiLab) -> None:
    from openapi_spec_validator import validate

    doc = json.loads((REPO / "docs/openapi.json").read_text())
    assert (REPO / "docs/openapi.json").read_text() == openapi.render(), \
        "regenerate: python -m vvtvlib.api.openapi --out docs/openapi.json"
    assert lab.gateway.layout.openapi.read_text() == openapi.render()  # api init's copy
    validate(doc)
    assert doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"] == \
        [c.code for c in ERROR_CODES]
    served = {(r.path, r.method, r.scope) for r in lab.gateway.routes}
    assert {(r.path, r.method, r.scope) for r in openapi.ROUTES} == served
    seen: set[tuple[int, str]] = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for status, resp in op["responses"].items():
                if status == "200":
                    continue
                enum = resp["content"]["application/json"]["schema"]["allOf"][1][
                    "properties"]["error"]["enum"]
                assert enum and all(int(status) in DOCUMENTED[c] for c in enum), \
                    (path, method, status)
                seen |= {(int(status), c) for c in enum}
            if op["security"]:
                assert "401" in op["responses"] and "429" in op["responses"]
    assert {c for _, c in seen} | {NOT_FOUND} == set(DOCUMENTED)
    assert "Retry-After" in doc["paths"]["/v1/infer"]["post"]["responses"]["429"]["headers"]


@pytest.mark.parametrize("task", ["expand_queries", "judge"])
def test_openapi_payload_schemas_are_the_pools(task: str) -> None:
    from vvtvlib.pool.tasks import schema

    doc = openapi.document()
    mine = doc["components"]["schemas"][f"{task}.payload"]
    assert mine == {k: v for k, v in schema(task, "payload").items() if k != "$schema"}
