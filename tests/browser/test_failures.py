"""When a service fails, the page says so in words and carries on."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import DEFAULT_MODEL, OTHER_MODEL, answer_done, screenshot, send


def test_with_chat_stopped_a_readable_error_shows_and_the_page_recovers(page, stack):
    stack.services["chat"].stop()
    try:
        send(page, "¿Hay alguien?")
        failed = answer_done(page, "error")
        expect(failed.locator(".error")).to_have_text(
            "El servicio de chat no está disponible en este momento; vuelve a intentarlo en unos "
            "segundos (HTTP 502).")
        expect(page.locator("#status li[data-service=chat]")).to_have_attribute("data-state", "down")
        expect(page.locator("#status li[data-service=chat]")).to_have_attribute(
            "title", "Servicio de chat: no responde (HTTP 502)")
        expect(page.locator("#send")).to_be_visible()
        screenshot(page, "error")
    finally:
        stack.restart("chat")
    # Back: the same answer again works, in place, and the light turns green without a reload.
    failed.locator("[data-action=regenerate]").click()
    expect(answer_done(page).locator(".content")).to_have_text("¿Hay alguien?")
    expect(page.locator("article.message")).to_have_count(2)
    expect(page.locator("#status li[data-service=chat]")).to_have_attribute("data-state", "ok")


def test_a_service_error_field_is_shown(page, model):
    model(DEFAULT_MODEL, failure="error")
    model(OTHER_MODEL, failure="error")
    page.locator("#consensus-toggle").check()
    send(page, "¿Qué opináis?")
    expect(answer_done(page, "error").locator(".error")).to_have_text(
        "El servicio de consenso respondió: none of the 2 models answered")


def test_a_stream_that_breaks_midway_says_so_and_keeps_what_arrived(page, model):
    model(DEFAULT_MODEL, failure="die", die_after_tokens=3)
    send(page, "uno dos tres cuatro cinco seis")
    failed = answer_done(page, "error")
    expect(failed.locator(".content")).to_have_text("uno dos tres")
    expect(failed.locator(".error")).to_contain_text("El servicio de chat respondió:")
