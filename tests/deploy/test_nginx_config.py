"""capibara6_nginx's template, rendered with plain Jinja2 (tests/frontdoor.py, which
the browser tests serve the page with): every route of every service's blueprint reaches that
service through nginx's location matching, no location points at a path no
service has, and TLS switches on with both certificate paths."""

from __future__ import annotations

import json
import re

import pytest

from tests.frontdoor import SERVICES, locations, render, route_to, service_routes

# Reached on the host only: TTS's model preloading is an operator's action.
NOT_PROXIED = {"/preload"}


def test_every_route_of_every_service_reaches_it_through_nginx():
    table = locations(render())
    wrong = {path: route_to(path, table) for service, paths in service_routes().items()
             for path in paths if route_to(path, table) != ("" if path in NOT_PROXIED else service)}
    assert wrong == {}


def test_every_proxied_location_is_a_path_its_service_has():
    routes = service_routes()
    dead = [(location, service) for modifier, location, service in locations(render())
            if service and not location.startswith(("/health/", "/openapi/"))
            and not any(path == location if modifier else path.startswith(location) for path in routes[service])]
    assert dead == []


def test_each_service_health_and_openapi_document_have_their_own_path():
    config = render()
    for service in SERVICES:
        assert f"location = /health/{service} {{\n            proxy_pass http://capibara6_{service}/health;" in config
        assert (f"location = /openapi/{service}.json {{\n            "
                f"proxy_pass http://capibara6_{service}/openapi.json;") in config


def test_a_body_over_nginx_limit_gets_the_json_413():
    config = render()
    assert "error_page 413 @capibara6_too_large;" in config
    named = re.search(r"location @capibara6_too_large \{(.*?)\n        \}", config, re.S).group(1)
    body = re.search(r"return 413 '(.*)';", named).group(1)
    assert "default_type application/json;" in named
    assert json.loads(body)["code"] == "payload_too_large"


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
