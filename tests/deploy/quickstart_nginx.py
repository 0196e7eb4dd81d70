"""Step 4 of docs/quickstart.md on a test machine: a real nginx (Debian's /usr/sbin/nginx, or
NGINX_BIN; missing fails under CI) running nginx-compat/forward-to-proxy.conf unprivileged, with
/etc/nginx in a temporary directory."""

import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

from conftest import free_port
from quickstart_doc import BINARIES, Quickstart, under_ci


def nginx_bin() -> pathlib.Path:
    nginx = pathlib.Path(os.environ.get("NGINX_BIN", "/usr/sbin/nginx"))
    if not nginx.is_file():
        if under_ci():
            pytest.fail(f"nginx not found at {nginx} (apt-get install nginx, or set NGINX_BIN)")
        pytest.skip(f"nginx not found at {nginx}")
    return nginx


class Nginx:
    """The page's nginx-install block on this machine: /etc/nginx is a temporary directory, the
    adaptations the page asks for are made (listener, site certificate) plus the unprivileged
    temporary paths, and `systemctl reload` becomes a foreground start."""

    def __init__(self, site: Quickstart, binary: pathlib.Path):
        self.site, self.binary = site, binary
        self.etc = site.root / "etc" / "nginx"
        self.port = free_port()
        self.process = None
        self.site_ca = None
        run_dir = site.root / "nginx-run"
        run_dir.mkdir()
        self.globals = f"daemon off; pid {run_dir}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
        self.temp_paths = "".join(f"\n    {kind}_temp_path {run_dir}/{kind};"
                                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.run_dir = run_dir

    def command(self, *args) -> list:
        return [str(self.binary), "-p", str(self.run_dir), "-c", str(self.etc / "nginx.conf"), "-e", "stderr",
                "-g", self.globals, *args]

    def install(self) -> None:
        for line in self.site.script("nginx-install").strip().splitlines():
            if line.startswith("sudo install "):
                subprocess.run(["bash", "-euc", line.removeprefix("sudo ").replace("/etc/nginx/", f"{self.etc}/")],
                               cwd=self.site.root, check=True)
            elif line == "sudo nginx -t":
                self.adapt()
                checked = subprocess.run(self.command("-t"), capture_output=True, text=True)
                assert checked.returncode == 0, checked.stderr
            elif line == "sudo systemctl reload nginx":
                self.start()
            else:
                pytest.fail(f"the quickstart's nginx-install block has a line this test does not run: {line!r}")

    def adapt(self) -> None:
        """What the page tells the reader to adapt (the listener, the site's certificate), the
        proxy's port, and /etc/nginx moved."""
        conf = self.etc / "nginx.conf"
        text = conf.read_text()
        for old, new in (("listen 443 ssl;", f"listen 127.0.0.1:{self.port} ssl;"),
                         ("/etc/nginx/", f"{self.etc}/"),
                         ("127.0.0.1:8443", f"127.0.0.1:{self.site.ports['8443']}"),
                         ("http {", "http {" + self.temp_paths + f"\n    access_log {self.run_dir}/access.log;")):
            assert old in text, f"nginx-compat/forward-to-proxy.conf no longer has {old!r}"
            text = text.replace(old, new)
        conf.write_text(text)
        site_certs = self.site.root / "site-certs"
        subprocess.run([str(BINARIES["mimir-proxy"]), "gen-certs", "--dir", str(site_certs)], check=True,
                       capture_output=True)
        shutil.copy(site_certs / "server.pem", self.etc / "ssl" / "cert.pem")
        shutil.copy(site_certs / "server.key", self.etc / "ssl" / "key.pem")
        self.site_ca = site_certs / "ca.pem"

    def start(self) -> None:
        with open(self.run_dir / "nginx.log", "wb") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            assert self.process.poll() is None, (self.run_dir / "nginx.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start listening"
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
