"""A whole game-day lab in one root: a live station, the public API behind nginx, the
on-call receiver, Prometheus and Alertmanager (``vvtvctl obs``).

    with GamedayLab(root, time_scale=60) as lab:
        run_gameday("encoder-restart", lab.root, out)

Used by the ``o3_gameday_drill`` notebook and ``make soak``; everything it started is
stopped on exit (obs, API, station, receiver), in reverse order.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from types import TracebackType

from vvtvlib.api.init import api_init
from vvtvlib.api.supervisor import api_down, api_up
from vvtvlib.core.errors import DependencyMissing, TimedOut
from vvtvlib.core.layout import StationLayout
from vvtvlib.station.provision import init_station
from vvtvlib.station.supervisor import station_down, station_up

from .generate import REPO
from .obs import ObsState, free_port, obs_down, obs_up
from .oncall.escalation import load_policy
from .oncall.receiver import Receiver, serve
from .oncall.rota import Rota


class GamedayLab:
    def __init__(self, root: str | Path, *, time_scale: float = 60.0, scrape: str = "1s",
                 station: bool = True, api: bool = True, api_profile: str = "nginx",
                 station_profile: str = "embedded",
                 items: int = 3, clip_seconds: int = 20) -> None:
        self.root = Path(root).absolute()
        self.time_scale, self.scrape = time_scale, scrape
        self.with_station, self.with_api, self.api_profile = station, api, api_profile
        self.items, self.clip_seconds = items, clip_seconds
        self.station_profile = station_profile
        self.receiver: Receiver | None = None
        self.receiver_url = ""
        self.obs: ObsState | None = None
        self._stop = threading.Event()
        self._cleanup: list[tuple[str, object]] = []

    def __enter__(self) -> GamedayLab:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.with_station:
            init_station(self.root, profile=self.station_profile, force=True, items=self.items,
                         clip_seconds=self.clip_seconds)
            station_up(StationLayout.at(self.root), timeout_s=120)
            self._cleanup.append(("station", None))
        if self.with_api:
            api_init(self.root, force=True, port=free_port(), gateway_port=free_port(),
                     tls_port=free_port(), provider_ports=[free_port() for _ in range(3)])
            self._cleanup.append(("api", None))
            try:
                api_up(self.root, profile=self.api_profile)
            except (DependencyMissing, TimedOut):  # a busy machine: pool-api slow to listen
                api_down(self.root)
                api_up(self.root, profile=self.api_profile)  # once more; then it is an error
        self.receiver = Receiver(load_policy(REPO / "ops" / "oncall" / "escalation.yaml"),
                                 Rota.load(REPO / "ops" / "oncall" / "rota.ics"),
                                 self.root / "oncall")
        port = free_port()
        t = threading.Thread(target=serve, args=(self.receiver, "127.0.0.1", port, self._stop),
                             daemon=True, name="gameday-receiver")
        t.start()
        self._cleanup.append(("receiver", t))
        self.receiver_url = f"http://127.0.0.1:{port}/"
        self.obs = obs_up(self.root, time_scale=self.time_scale, scrape_interval=self.scrape,
                          receiver_url=self.receiver_url)
        self._cleanup.append(("obs", None))

    def stop(self) -> None:
        while self._cleanup:
            what, handle = self._cleanup.pop()
            with contextlib.suppress(Exception):  # every piece must get its stop
                if what == "obs":
                    obs_down(self.root)
                elif what == "receiver":
                    self._stop.set()
                    if isinstance(handle, threading.Thread):
                        handle.join(10)
                elif what == "api":
                    api_down(self.root)
                elif what == "station":
                    station_down(StationLayout.at(self.root), timeout_s=30)


__all__ = ["GamedayLab"]
