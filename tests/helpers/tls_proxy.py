"""What stands between a rater and ``mhbench web``: a real nginx doing TLS, and an ``ssh -L``-like forwarder.

``tls_proxy`` runs Debian's nginx on 127.0.0.1 with a self-signed certificate (made by
``openssl``), proxying HTTPS and the websocket upgrade to the door, with the same
``location`` block as docs/serving.md gives operators. ``tcp_forwarder`` moves bytes from
another local port to the door's, as ``ssh -L 9999:127.0.0.1:PORT`` does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.helpers.browser import door_server, free_port

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)

# docs/serving.md shows operators this block: keep the two in step.
LOCATION = """
    location / {
        proxy_pass http://127.0.0.1:%(upstream)d;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_read_timeout 1h;
        proxy_buffering off;
    }
"""

CONFIG = """
daemon off;
worker_processes 1;
%(user)s
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 256; }
http {
    access_log %(dir)s/access.log;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:%(port)d ssl;
        ssl_certificate %(dir)s/cert.pem;
        ssl_certificate_key %(dir)s/key.pem;
%(location)s
    }
}
"""


def proxy_missing() -> str | None:
    """Why the TLS proxy cannot run here, or ``None``."""
    if NGINX is None:
        return "Debian's nginx is not installed (scripts/test.sh installs it when run as root with apt-get)"
    if shutil.which("openssl") is None:
        return "openssl is not installed (it makes the proxy's self-signed certificate)"
    return None


def self_signed(folder: Path) -> None:
    """``cert.pem`` and ``key.pem`` in ``folder``, for 127.0.0.1, valid two days."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)


def wait_listening(port: int, process: subprocess.Popen[bytes] | None, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port}") from None
            time.sleep(0.1)


@contextmanager
def tls_proxy(folder: Path, port: int, upstream: int) -> Iterator[str]:
    """nginx on https://127.0.0.1:``port`` in front of http://127.0.0.1:``upstream``; yields its URL."""
    assert NGINX is not None, proxy_missing()
    folder.mkdir(parents=True, exist_ok=True)
    self_signed(folder)
    values = {"dir": folder, "port": port, "upstream": upstream,
              "user": "user root;" if os.geteuid() == 0 else ""}  # root's workers would run as nobody
    (folder / "nginx.conf").write_text(CONFIG % {**values, "location": LOCATION % values}, encoding="utf-8")
    log = (folder / "nginx.out").open("wb")
    process = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")], stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            wait_listening(port, process, "nginx")
        except RuntimeError:
            raise RuntimeError((folder / "nginx.out").read_text(errors="replace")
                               + (folder / "error.log").read_text(errors="replace")) from None
        yield f"https://127.0.0.1:{port}/"
    finally:
        process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextmanager
def tcp_forwarder(port: int, target: int) -> Iterator[str]:
    """Bytes from 127.0.0.1:``port`` to 127.0.0.1:``target`` and back, as ``ssh -L`` does; yields its URL."""
    listener = socket.create_server(("127.0.0.1", port))
    stopping = threading.Event()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def accept() -> None:
        while not stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(source, sink), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        stopping.set()
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        listener.close()


@contextmanager
def proxied_door(workspace: Path, folder: Path) -> Iterator[str]:
    """``mhbench web --public-url https://127.0.0.1:P`` for ``workspace`` behind nginx on P; yields the https URL."""
    door, proxy = free_port(), free_port()
    with door_server(workspace, door, "--public-url", f"https://127.0.0.1:{proxy}"), \
            tls_proxy(folder, proxy, door) as url:
        yield url
