"""A running worker's view of data/tenants.sqlite: changes to known tenants within
``refresh_s``, and what was just made (a tenant, a key, a certificate mapping) at once."""

from __future__ import annotations

from pathlib import Path

from vvtvlib.api.init import api_init
from vvtvlib.api.tenants import open_tenants
from vvtvlib.core.clock import FakeClock


def test_a_tenant_made_a_moment_ago_is_known_on_its_first_request(tmp_path: Path) -> None:
    api_init(tmp_path)
    clock = FakeClock()  # never moves: only the miss can make the worker look again
    worker, admin = open_tenants(tmp_path, clock), open_tenants(tmp_path, clock)
    try:
        old = admin.create("Old", "pro", 60, 5, ["infer"])
        assert worker.key(old.api_public_key) is not None  # the worker's view, now cached
        new = admin.create("New", "pro", 60, 5, ["infer"])
        admin.map_cert(new.tenant_id, "new.client")
        k = worker.key(new.api_public_key)
        assert k is not None and k.tenant_id == new.tenant_id and k.secret == new.api_secret
        assert worker.tenant(new.tenant_id) is not None
        assert worker.tenant_for_cn("new.client") == new.tenant_id
        assert worker.key("vvtv-pub-unknown") is None and worker.tenant_for_cn("x") is None
        # a change to a known tenant still waits for refresh_s (no read per request)
        admin.set_status(old.tenant_id, "suspended")
        assert worker.tenant(old.tenant_id).status == "active"  # type: ignore[union-attr]
        clock.advance(worker.refresh_s)
        assert worker.tenant(old.tenant_id).status == "suspended"  # type: ignore[union-attr]
    finally:
        worker.close()
        admin.close()
