"""Logging in through the fake provider and out again, and the landing page's checks."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.browser.conftest import answer_done, open_page, send

TOKEN = "capibara6.token"


def verify(stack, token: str) -> requests.Response:
    return requests.post(f"{stack.nginx.url}/auth/verify", json={"token": token}, timeout=10)


def test_login_buttons_are_the_providers_auth_enables(page):
    buttons = page.locator("#account a.login")
    expect(buttons).to_have_count(3)
    assert [b.get_attribute("data-provider") for b in buttons.all()] == ["github", "google", "oidc"]
    assert buttons.first.get_attribute("href").endswith("/auth/github")


@pytest.mark.parametrize("provider", ["github", "oidc"])
def test_login_through_the_provider_and_logout(page, stack, provider):
    page.locator(f"#account a.login[data-provider={provider}]").click()
    # Provider, callback, the landing page that checks the token, and back to the chat.
    expect(page.locator("#account .user")).to_have_text("Sesión iniciada: Capi Bara")
    assert page.url == stack.url
    token = page.evaluate(f"localStorage.getItem('{TOKEN}')")
    assert token and verify(stack, token).status_code == 200

    # Every call to a service carries it.
    with page.expect_request("**/api/chat/stream") as asked:
        send(page, "hola")
    assert asked.value.headers["authorization"] == f"Bearer {token}"
    answer_done(page)

    page.locator("#logout").click()
    expect(page.locator("#notice-text")).to_have_text("Sesión cerrada.")
    expect(page.locator("#account a.login")).to_have_count(3)
    assert page.evaluate(f"localStorage.getItem('{TOKEN}')") is None
    # Revoked on the server, not only forgotten here.
    refused = verify(stack, token)
    assert refused.status_code == 401 and refused.json()["code"] == "token_revoked"


def test_the_landing_page_takes_the_token_out_of_the_address_bar_and_refuses_a_bad_one(browser, stack):
    page, problems = open_page(browser, stack.url + "login.html#token=not-a-real-token")
    status = page.locator("#login-status")
    expect(status).to_contain_text("No se pudo iniciar sesión. El servicio de inicio de sesión respondió:")
    expect(status).to_have_class("error")
    assert "token" not in page.url
    assert page.evaluate(f"localStorage.getItem('{TOKEN}')") is None
    expect(page.locator("#back")).to_be_visible()
    page.context.close()
    assert problems == []


def test_the_old_chat_html_address_leads_to_the_page_and_its_logins_to_the_check(browser, stack):
    page, problems = open_page(browser, stack.url + "chat.html")
    page.wait_for_url(stack.url)
    expect(page.locator("#prompt")).to_be_visible()
    page.goto(stack.url + "chat.html#token=old-link-token")
    expect(page.locator("#login-status")).to_contain_text("No se pudo iniciar sesión")
    assert page.url == stack.url + "login.html"
    page.context.close()
    assert problems == []
