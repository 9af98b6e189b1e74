"""The page as production serves it, in Debian's Chromium.

Once per session: the fake Ollama (two models, tokens a few ms apart), the
fake OAuth/OIDC provider of the auth tests, the five services as real
processes on free ports, and Debian's nginx with the capibara6_nginx role's
own template (tests/frontdoor.py) in front of them and of web/. Chromium is
driven by the playwright package with executable_path=/usr/bin/chromium
(playwright's own browser download cannot work here, and is never used).

Each test gets a fresh browser context (empty localStorage) and page at the
page's URL; a Content-Security-Policy violation or an uncaught error in the
page fails the test. Screenshots go to .cache/screenshots/ (see README.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.auth.conftest import auth_env
from tests.processes import ROOT, ServiceProcess, free_port
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.frontdoor import SERVICES, Nginx
from tests.mcp.conftest import wait_ready, write_corpus

CHROMIUM = "/usr/bin/chromium"
# Headless, as root, and nothing that reaches for the network by itself (it is closed here).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = ROOT / ".cache" / "screenshots"
DEFAULT_MODEL = "llama3.2:latest"
OTHER_MODEL = "qwen2.5:7b"
TOKEN_DELAY = 0.02
OTHER_REPLY = "Respuesta de Qwen: el capibara es el roedor más grande del mundo."
# Patience for actions and assertions on 2 shared cores (a wait ends as soon as it is met).
TIMEOUT_MS = 15000
expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Stack:
    """Everything behind the page, for tests that look behind it or break part of it."""

    ollama: FakeOllama
    provider: FakeOAuthProvider
    nginx: Nginx
    services: dict[str, ServiceProcess]
    envs: dict[str, dict]
    folder: Path

    @property
    def url(self) -> str:
        return self.nginx.url + "/"

    def restart(self, name: str) -> ServiceProcess:
        """Start a stopped service again on its port (nginx's upstream stays the same)."""
        old = self.services[name]
        old.stop()
        new = self.services[name] = ServiceProcess(name, self.envs[name], self.folder, port=old.port)
        new.start()
        wait_ready(new)
        return new


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    with ExitStack() as cleanup:  # whatever started is stopped, even when a later start fails
        ollama = FakeOllama([FakeModel(DEFAULT_MODEL, echo=True, token_delay=TOKEN_DELAY),
                             FakeModel(OTHER_MODEL, reply=OTHER_REPLY, token_delay=TOKEN_DELAY)]).start()
        cleanup.callback(ollama.stop)
        provider = FakeOAuthProvider().start()
        cleanup.callback(provider.stop)
        nginx_port = free_port()
        landing = SimpleNamespace(url=f"http://127.0.0.1:{nginx_port}/login.html")
        common = {"OLLAMA_URL": ollama.url, "OLLAMA_MODEL": DEFAULT_MODEL}
        envs = {
            "chat": common,
            "tts": {"CAPIBARA6_TTS_ENGINE": "espeak"},
            "mcp": {"CAPIBARA6_MCP_DOCS_DIR": str(write_corpus(folder / "docs"))},
            # Public URL: nginx's, so the provider sends the browser back through it.
            "auth": auth_env(provider, landing, nginx_port),
            "consensus": common,
        }
        services = {name: ServiceProcess(name, envs[name], folder) for name in SERVICES}
        cleanup.callback(lambda: [proc.stop() for proc in services.values()])  # restarted ones too

        def start(proc: ServiceProcess) -> None:
            # Patient: mcp's torch import holds the GIL for seconds on 2 busy cores.
            proc.start(wait=240)
            wait_ready(proc)

        with ThreadPoolExecutor(len(services)) as pool:
            for started in [pool.submit(start, proc) for proc in services.values()]:
                started.result()
        nginx = Nginx(folder / "nginx", port=nginx_port, web_root=ROOT / "web",
                      backends={name: f"127.0.0.1:{proc.port}" for name, proc in services.items()})
        cleanup.callback(nginx.stop)
        nginx.start()
        yield Stack(ollama, provider, nginx, services, envs, folder)


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    with sync_playwright() as playwright:
        # playwright gives each launch a fresh, empty profile (user data dir) of its own.
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              headless=True, chromium_sandbox=False)
        yield chromium
        chromium.close()


@pytest.fixture
def model(stack):
    """model(name, **attributes): change a fake model for one test (put back afterwards)."""
    changed = []

    def change(name: str, **attributes) -> FakeModel:
        fake = stack.ollama.models[name]
        changed.append((fake, {key: getattr(fake, key) for key in attributes}))
        for key, value in attributes.items():
            setattr(fake, key, value)
        return fake

    yield change
    for fake, saved in reversed(changed):
        for key, value in saved.items():
            setattr(fake, key, value)


def open_page(browser, url: str, color_scheme: str = "light"):
    """A fresh context and page; returns (page, problems): CSP violations and uncaught errors."""
    context = browser.new_context(color_scheme=color_scheme, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", lambda message: problems.append(f"console: {message.text}")
            if "Content Security Policy" in message.text else None)
    page.goto(url)
    return page, problems


@pytest.fixture
def page(browser, stack):
    page, problems = open_page(browser, stack.url)
    ready(page)
    yield page
    page.context.close()
    assert problems == []


def ready(page: Page) -> None:
    """The page has loaded its models and checked the services."""
    expect(page.locator("#model option").first).to_be_attached()
    expect(page.locator("#status li[data-state='unknown']")).to_have_count(0)


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def last_answer(page: Page):
    return page.locator("article.message.assistant").last


def send(page: Page, text: str) -> None:
    page.locator("#prompt").fill(text)
    page.locator("#prompt").press("Enter")


def answer_done(page: Page, state: str = "done"):
    """The last answer, once it has finished in that state (done, stopped or error)."""
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-state", state, timeout=2 * TIMEOUT_MS)
    return answer

