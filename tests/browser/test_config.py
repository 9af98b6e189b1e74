"""web/config.js, as Chromium computes it, against the services' own routes.

In production (served by nginx) every URL is the page's origin and every path
must reach its service through the role's locations and be one of that
service's Flask routes; in development (the page on 127.0.0.1:8000, as
`make serve-web` serves it) every URL is the service's own port and every
path one of its routes. The route sets come from each service's app factory.
"""

from __future__ import annotations

import importlib
import re

import pytest
import requests
from playwright.sync_api import expect
from werkzeug.exceptions import MethodNotAllowed, NotFound

from capibara6.kit.services import SERVICES as PORTS
from tests.auth.conftest import JWT_SECRET
from tests.browser.conftest import answer_done, open_page, send
from tests.processes import ROOT
from tests.frontdoor import SERVICES, locations, render, route_to

WEB = ROOT / "web"
DEV_ORIGIN = "http://127.0.0.1:8000"
# config.js's {provider} placeholder: every provider the auth service has.
PROVIDERS = ["github", "google", "oidc"]


@pytest.fixture(scope="module")
def url_maps(tmp_path_factory):
    """Each service's url_map, from its own create_app()."""
    maps = {}
    for service in SERVICES:
        folder = tmp_path_factory.mktemp(f"routes-{service}")
        environ = {"CAPIBARA6_STATE_DIR": str(folder), "CAPIBARA6_CACHE_DIR": str(folder / "cache"),
                   "JWT_SECRET": JWT_SECRET, "CAPIBARA6_TTS_ENGINE": "espeak"}
        maps[service] = importlib.import_module(f"capibara6.{service}").create_app(environ).url_map
    return maps


def served(url_map, path: str) -> bool:
    adapter = url_map.bind("localhost")
    try:
        adapter.match(path)
    except MethodNotAllowed:
        return True  # the path is there, for another method
    except NotFound:
        return False
    return True


def paths_of(config: dict) -> dict[str, dict[str, str]]:
    """{service: {endpoint name: path}} with placeholders filled, and each service's URL."""
    by_service = {"chat": (config["BACKEND_URL"], config["ENDPOINTS"])}
    for service in SERVICES[1:]:
        entry = config["SERVICES"][service.upper()]
        assert entry["enabled"] is True
        by_service[service] = (entry["url"], entry["endpoints"])
    return by_service


def expanded(path: str) -> list[str]:
    return [path.replace("{provider}", name) for name in PROVIDERS] if "{provider}" in path else [path]


def config_in(page) -> dict:
    return page.evaluate("window.CAPIBARA6_CONFIG")


def test_in_production_every_path_reaches_a_route_of_its_service_through_nginx(browser, stack, url_maps):
    page, problems = open_page(browser, stack.url)
    config = config_in(page)
    page.context.close()
    assert problems == [] and config["DEV"] is False
    table = locations(render())
    wrong = []
    for service, (url, endpoints) in paths_of(config).items():
        assert url == stack.nginx.url
        for name, template in endpoints.items():
            for path in expanded(template):
                # nginx's /health/<service> is that service's /health.
                upstream_path = "/health" if path == f"/health/{service}" else path
                if route_to(path, table) != service or not served(url_maps[service], upstream_path):
                    wrong.append((service, name, path))
    assert wrong == []


def test_in_development_every_path_is_a_route_on_the_service_own_port(browser, url_maps):
    context = browser.new_context()
    page = context.new_page()
    # The page as `make serve-web` serves it (its origin is what config.js looks at).
    page.route(f"{DEV_ORIGIN}/", lambda route: route.fulfill(
        content_type="text/html", body='<!doctype html><script src="config.js"></script>'))
    page.route(f"{DEV_ORIGIN}/config.js", lambda route: route.fulfill(path=WEB / "config.js"))
    page.goto(f"{DEV_ORIGIN}/")
    config = config_in(page)
    context.close()
    assert config["DEV"] is True
    wrong = []
    for service, (url, endpoints) in paths_of(config).items():
        assert url == f"http://127.0.0.1:{PORTS[service]}"
        wrong += [(service, name, path) for name, template in endpoints.items()
                  for path in expanded(template) if not served(url_maps[service], path)]
    assert wrong == []


def test_the_page_scripts_take_every_path_from_config_js():
    # A path written anywhere else would escape the checks above.
    literal = re.compile(r"""["'`](/(api|auth|health|tts|voices|v1)\b[^"'`]*)["'`]""")
    found = {path.name: literal.findall(path.read_text()) for path in (WEB / "js").glob("*.js")}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_every_page_is_served_with_the_role_csp(stack):
    for name in ("", "index.html", "chat.html", "login.html", "config.js", "js/main.js", "css/style.css"):
        reply = requests.get(stack.url + name, timeout=5)
        assert reply.status_code == 200, name
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'self'"), name
        assert "unsafe-inline" not in reply.headers["Content-Security-Policy"]
    # No inline script or handler anywhere: the CSP would block it.
    for page in WEB.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name
        assert " style=" not in html, page.name


def test_services_config_js_marks_as_not_deployed_have_no_controls(browser, stack):
    only_chat = (WEB / "config.js").read_text().replace("enabled: true", "enabled: false")
    context = browser.new_context()
    context.route("**/config.js", lambda route: route.fulfill(content_type="application/javascript",
                                                              body=only_chat))
    page = context.new_page()
    page.goto(stack.url)
    expect(page.locator("#status li")).to_have_count(1)
    expect(page.locator("#status li[data-service=chat]")).to_have_attribute("data-state", "ok")
    expect(page.locator("#consensus-toggle")).to_be_hidden()
    expect(page.locator("#mcp-toggle")).to_be_hidden()
    send(page, "hola")
    answer = answer_done(page)
    expect(answer.locator("[data-action=copy]")).to_be_visible()
    expect(answer.locator("[data-action=speak], audio")).to_have_count(0)
    expect(page.locator("#account")).to_be_empty()
    context.close()
