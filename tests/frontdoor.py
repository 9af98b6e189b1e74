"""The capibara6_nginx role's template outside Ansible, and Debian's nginx running it.

render() is the role's nginx.conf.j2 through plain Jinja2 over the role's
defaults and vars (the template uses no Ansible filters or facts), with
overrides; tests/deploy/test_nginx_config.py reads the result, and
tests/browser serves the page with it through a real nginx: Nginx runs
/usr/sbin/nginx as a plain process (not the system service) with its own
pid file, logs and temporary directories under a test folder.

locations(), route_to() and service_routes() compare the configuration's
locations with the services' Flask routes.
"""

from __future__ import annotations

import getpass
import importlib
import re
import signal
import subprocess
import time
from pathlib import Path

import jinja2
import requests
import yaml
from flask import Flask

from tests.processes import free_port

ROLE = Path(__file__).resolve().parents[1] / "deploy" / "ansible" / "roles" / "capibara6_nginx"
SERVICES = ["chat", "tts", "mcp", "auth", "consensus"]
NGINX = "/usr/sbin/nginx"


def render(**overrides) -> str:
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    variables |= yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    variables |= overrides
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"),
                             undefined=jinja2.StrictUndefined, trim_blocks=True)
    return env.get_template("nginx.conf.j2").render(**variables)


def locations(config: str) -> list[tuple[str, str, str]]:
    """(modifier, path, upstream service or '' for the page) of each location."""
    found = []
    for match in re.finditer(r"location (=\s+)?(\S+) \{(.*?)\}", config, re.S):
        upstream = re.search(r"proxy_pass http://capibara6_(\w+)", match.group(3))
        found.append(((match.group(1) or "").strip(), match.group(2), upstream.group(1) if upstream else ""))
    return found


def route_to(path: str, table) -> str:
    """nginx's choice for a path: an exact location, else the longest prefix."""
    for modifier, location, service in table:
        if modifier == "=" and location == path:
            return service
    prefixes = [(len(location), service) for modifier, location, service in table
                if not modifier and path.startswith(location)]
    return max(prefixes)[1]


def service_routes() -> dict[str, list[str]]:
    """Each service's blueprint routes, parameters written as 'x'."""
    routes = {}
    for service in SERVICES:
        app = Flask("probe")
        app.register_blueprint(importlib.import_module(f"capibara6.{service}.app").bp)
        routes[service] = [re.sub(r"<[^>]*>", "x", rule.rule) for rule in app.url_map.iter_rules()
                           if rule.endpoint != "static"]
    return routes


class Nginx:
    """Debian's nginx on a free loopback port with the role's configuration, as a plain process."""

    def __init__(self, folder: Path, *, backends: dict[str, str], web_root: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        for sub in ("logs", "temp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        self.error_log = folder / "logs" / "error.log"
        self.config_path = folder / "nginx.conf"
        self.config_path.write_text(render(**{
            "capibara6_nginx_http_port": self.port,
            "capibara6_nginx_backends": backends,
            "capibara6_nginx_web_root": str(web_root),
            # The role's platform paths, moved into the folder: no root, no system service.
            "__capibara6_nginx_user": getpass.getuser(),
            "__capibara6_nginx_pid_path": str(folder / "nginx.pid"),
            "__capibara6_nginx_log_dir": str(folder / "logs"),
            "__capibara6_nginx_temp_dir": str(folder / "temp"),
        }))
        self.proc: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        # -e: the error log before the configuration is read (Debian's default is /var/log/nginx).
        return [NGINX, "-p", str(self.folder), "-e", str(self.error_log), "-c", str(self.config_path), *extra]

    def start(self, wait: float = 20.0) -> "Nginx":
        subprocess.run(self.command("-t", "-q"), check=True, capture_output=True, timeout=30)
        self.proc = subprocess.Popen(self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.log()}")
            try:
                requests.get(self.url + "/", timeout=1)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not answer within {wait}s:\n{self.log()}")

    def log(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish what they serve
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
