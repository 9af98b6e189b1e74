"""capibara6_nginx's template, rendered with plain Jinja2 (as a browser test
outside Ansible would): every route of every service's blueprint reaches that
service through nginx's location matching, no location points at a path no
service has, and TLS switches on with both certificate paths."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import jinja2
import pytest
import yaml
from flask import Flask

ROLE = Path(__file__).resolve().parents[2] / "deploy" / "ansible" / "roles" / "capibara6_nginx"
SERVICES = ["chat", "tts", "mcp", "auth", "consensus"]
# Reached on the host only: TTS's model preloading is an operator's action.
NOT_PROXIED = {"/preload"}


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
    routes = {}
    for service in SERVICES:
        app = Flask("probe")
        app.register_blueprint(importlib.import_module(f"capibara6.{service}.app").bp)
        routes[service] = [re.sub(r"<[^>]*>", "x", rule.rule) for rule in app.url_map.iter_rules()
                           if rule.endpoint != "static"]
    return routes


def test_every_route_of_every_service_reaches_it_through_nginx():
    table = locations(render())
    wrong = {path: route_to(path, table) for service, paths in service_routes().items()
             for path in paths if route_to(path, table) != ("" if path in NOT_PROXIED else service)}
    assert wrong == {}


def test_every_proxied_location_is_a_path_its_service_has():
    routes = service_routes()
    dead = [(location, service) for modifier, location, service in locations(render())
            if service and not location.startswith("/health/")
            and not any(path == location if modifier else path.startswith(location) for path in routes[service])]
    assert dead == []


def test_each_service_health_has_its_own_prefix():
    config = render()
    for service in SERVICES:
        assert f"location = /health/{service} {{\n            proxy_pass http://capibara6_{service}/health;" in config


@pytest.mark.parametrize("tls", [False, True])
def test_tls_only_with_a_certificate_and_key(tls):
    paths = {"capibara6_nginx_tls_certificate": "/etc/ssl/c.pem", "capibara6_nginx_tls_key": "/etc/ssl/k.pem"}
    config = render(**(paths if tls else {}))
    assert ("ssl_certificate /etc/ssl/c.pem;" in config) == tls
    assert ("Strict-Transport-Security" in config) == tls
    assert ("return 301 https://" in config) == tls
    for directive in ("proxy_buffering off;", "proxy_cache off;", "gzip off;", "proxy_http_version 1.1;",
                      'proxy_set_header Connection "";', "Content-Security-Policy \"default-src 'self'",
                      "X-Content-Type-Options nosniff", "Referrer-Policy same-origin"):
        assert directive in config


def test_several_ollama_hosts_are_balanced_and_one_goes_straight():
    assert "capibara6_ollama" not in render(capibara6_nginx_ollama_servers=["10.0.0.5:11434"])
    config = render(capibara6_nginx_ollama_servers=["10.0.0.5:11434", "10.0.0.6:11434"])
    balancer = config[config.index("upstream capibara6_ollama"):]
    assert "least_conn;" in balancer
    assert "server 10.0.0.5:11434 max_fails=2 fail_timeout=30s;" in balancer
    assert "server 10.0.0.6:11434 max_fails=2 fail_timeout=30s;" in balancer
    assert "listen 127.0.0.1:11400;" in balancer
    assert "proxy_next_upstream error timeout non_idempotent;" in balancer


def test_vm_health_says_draining_while_the_drain_file_exists_else_asks_chat():
    # The load balancer's check; molecule's site scenario watches it through a rolling restart.
    config = render(capibara6_nginx_drain_file="/run/test-draining")
    block = config[config.index("location = /health {"):config.index("location = /health/")]
    assert "if (-f /run/test-draining) {" in block and "return 503 '" in block
    assert '"status": "draining"' in block and '"code": "draining"' in block
    assert "proxy_pass http://capibara6_chat/health;" in block
