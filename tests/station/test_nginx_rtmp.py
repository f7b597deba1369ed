"""The nginx-rtmp profile: FFmpeg pushes RTMP, Debian's nginx makes and serves the HLS."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.plugins.station import LabStation, need_rtmp
from vvtvlib.core.layout import StationLayout
from vvtvlib.media.hls import parse_playlist
from vvtvlib.station import control, nginx

from .helpers import eventually, live_matches_mezzanine, playout_lines

pytestmark = [pytest.mark.station, pytest.mark.system]


@pytest.fixture
def rtmp_ready() -> None:
    need_rtmp()


def test_nginx_rtmp_station_serves_hls_through_nginx(
        rtmp_ready: None, station_factory: Callable[..., LabStation], tmp_path: Path) -> None:
    lab = station_factory(profile="nginx-rtmp")
    st = lab.status()
    assert st.up and st.encoder_running and st.nginx and st.nginx["running"]
    assert st.hls_url and f":{st.nginx['http_port']}/" in st.hls_url
    resp = httpx.get(st.hls_url, timeout=5)
    assert resp.status_code == 200
    pl = parse_playlist(resp.text)
    assert pl.segments and all(s.program_date_time for s in pl.segments)
    seg = httpx.get(str(httpx.URL(st.hls_url).join(pl.segments[-1].uri)), timeout=5)
    assert seg.status_code == 200 and seg.headers["server"].startswith("nginx")
    assert httpx.get(st.hls_url.replace("/hls/main.m3u8", "/status"), timeout=5).json()[
        "profile"] == "nginx-rtmp"
    entry, cmp = live_matches_mezzanine(lab.layout, st.hls_url, tmp_path)
    assert cmp.phash_distance <= 4 and cmp.ssim > 0.9, (entry, cmp)

    count = len(playout_lines(lab.layout))
    stopped = control.broadcaster_stop(lab.layout).resume
    assert stopped is not None
    resume = stopped.position
    st = control.broadcaster_start(lab.layout)
    new = playout_lines(lab.layout)[count:]
    first = next(e for e in new if e["run_id"] == st.encoder_run_id)
    assert (first["queue_position"], first["offset_s"]) == (resume.queue_position,
                                                            resume.offset_s)
    master = st.nginx["pid"] if st.nginx else None
    assert master and psutil.pid_exists(master)
    assert lab.down().graceful
    eventually(lambda: not psutil.pid_exists(master), timeout_s=5)


def test_worker_user_is_nobody_when_the_tree_allows_it(rtmp_ready: None, tmp_path: Path
                                                       ) -> None:
    open_root = tmp_path / "open"
    layout = StationLayout.at(open_root)
    layout.configs.mkdir(parents=True)
    plan = nginx.render(layout, http_port=1, rtmp_port=2, supervisor_port=3, segment_s=2,
                        list_size=10)
    conf = plan.conf.read_text()
    assert "listen 127.0.0.1:2;" in conf and "hls_path " + str(layout.hls_dir) in conf
    if os.geteuid() != 0:
        assert plan.worker_user != "root" and "user " not in conf
        return
    traversable = all(p.stat().st_mode & stat.S_IXOTH for p in [layout.hls_dir.parent,
                                                               *layout.hls_dir.parents])
    if traversable:
        assert plan.worker_user == "nobody" and layout.hls_dir.stat().st_uid != 0
    else:
        assert plan.worker_user == "root" and "user root;" in conf
