"""The nginx-rtmp profile: render the config from the template and run nginx as a child.

Privileges: when the supervisor runs as root, nginx's workers switch to ``nobody`` and must
be able to write ``broadcast/hls`` and to traverse every folder above it. If they can
(``/srv/vvtv``-style roots), the HLS folder is handed to ``nobody`` and workers stay
unprivileged. If they cannot (a root under a 0700 home or pytest's temp dir), the workers
keep the supervisor's user (``user root;``) rather than fail: nginx listens on 127.0.0.1
only and serves only the HLS folder. The chosen mode is logged and reported in /status.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template

from vvtvlib.core.errors import DependencyMissing
from vvtvlib.core.layout import StationLayout

from .provision import NGINX_TEMPLATE, repo_template

MODULE_CANDIDATES = ("/usr/lib/nginx/modules/ngx_rtmp_module.so",
                     "/usr/share/nginx/modules/ngx_rtmp_module.so")


def nginx_exe() -> str:
    exe = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                    else None)
    if exe is None:
        raise DependencyMissing("nginx is not installed (profile nginx-rtmp needs Debian's "
                                "nginx and libnginx-mod-rtmp)")
    return exe


def rtmp_module() -> str | None:
    """Path of the dynamic RTMP module, or None when nginx has it built in."""
    for p in MODULE_CANDIDATES:
        if os.path.exists(p):
            return p
    out = subprocess.run([nginx_exe(), "-V"], capture_output=True, text=True, check=False)
    if "rtmp" in out.stderr:
        return None
    raise DependencyMissing("the nginx RTMP module is missing (install libnginx-mod-rtmp)")


def nginx_version() -> str | None:
    try:
        out = subprocess.run([nginx_exe(), "-v"], capture_output=True, text=True, check=False)
    except DependencyMissing:
        return None
    return out.stderr.strip().split("/")[-1] or None


def _traversable_by_nobody(path: Path) -> bool:
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except FileNotFoundError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


@dataclass(frozen=True)
class NginxPlan:
    conf: Path
    prefix: Path
    worker_user: str


def render(layout: StationLayout, *, http_port: int, rtmp_port: int, supervisor_port: int,
           segment_s: int, list_size: int) -> NginxPlan:
    template = layout.configs / NGINX_TEMPLATE
    if not template.exists():
        template = repo_template()
    if not template.exists():
        raise DependencyMissing(f"no nginx-rtmp template in {layout.configs} or deploy/nginx",
                                path=template)
    prefix = layout.run / "nginx"
    for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    layout.hls_dir.mkdir(parents=True, exist_ok=True)
    user_directive, worker_user = "", pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        if _traversable_by_nobody(layout.hls_dir.parent):
            nobody = pwd.getpwnam("nobody")
            os.chown(layout.hls_dir, nobody.pw_uid, nobody.pw_gid)
            group = grp.getgrgid(nobody.pw_gid).gr_name
            user_directive, worker_user = f"user nobody {group};", "nobody"
        else:
            user_directive, worker_user = "user root;", "root"
    module = rtmp_module()
    text = Template(template.read_text()).substitute(
        LOAD_MODULE=f"load_module {module};" if module else "",
        USER_DIRECTIVE=user_directive, PREFIX=str(prefix), LOGS=str(layout.logs),
        HLS_DIR=str(layout.hls_dir), RTMP_PORT=rtmp_port, HTTP_PORT=http_port,
        SUPERVISOR_PORT=supervisor_port, SEGMENT_S=segment_s,
        FRAGMENT_MS=int(segment_s * 1000 * 3 // 4), MAX_FRAGMENT_MS=int(segment_s * 3000),
        PLAYLIST_S=segment_s * list_size)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return NginxPlan(conf, prefix, worker_user)


def start(plan: NginxPlan, layout: StationLayout) -> subprocess.Popen[bytes]:
    exe = nginx_exe()
    test = subprocess.run([exe, "-t", "-p", str(plan.prefix), "-c", str(plan.conf)],
                          capture_output=True, text=True, check=False)
    if test.returncode != 0:
        raise DependencyMissing(f"nginx rejected its config: {test.stderr.strip()[-300:]}",
                                path=plan.conf)
    log = (layout.logs / "nginx-stderr.log").open("ab")
    try:
        return subprocess.Popen([exe, "-p", str(plan.prefix), "-c", str(plan.conf)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    finally:
        log.close()


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Graceful: SIGQUIT lets workers finish open requests, then the master exits."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
