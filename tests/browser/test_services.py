"""The other services from the page: consensus, MCP context, and conversations kept in
the browser and saved on the server (speech: test_speech.py)."""

from __future__ import annotations

import time
from pathlib import Path

import requests
from playwright.sync_api import expect

from capibara6.chat.conversations import SCHEMA, SQLITE_FILE, ConversationStore
from capibara6.kit.storage import StorageSettings, open_database
from tests.browser.conftest import (DEFAULT_MODEL, OTHER_MODEL, OTHER_REPLY, answer_done, screenshot,
                                    send)


def test_consensus_shows_every_answer_the_combined_one_and_the_agreement(page, stack):
    page.locator("#consensus-toggle").check()
    asked = len(stack.ollama.stats.chat_requests)
    send(page, "¿Cuál es el roedor más grande?")
    answer = answer_done(page)
    models = answer.locator(".model-answer")
    expect(models).to_have_count(2)
    expect(models.nth(0).locator("summary")).to_contain_text(DEFAULT_MODEL)
    expect(models.nth(0).locator(".markdown")).to_have_text("¿Cuál es el roedor más grande?")
    expect(models.nth(1).locator("summary")).to_contain_text(OTHER_MODEL)
    expect(models.nth(1).locator(".markdown")).to_have_text(OTHER_REPLY)
    expect(answer.locator(".combined-label")).to_be_visible()
    expect(answer.locator(".content")).to_have_text("¿Cuál es el roedor más grande?")
    expect(answer.locator(".agreement")).to_contain_text("Acuerdo: 50 %")
    expect(answer.locator(".agreement")).to_contain_text("sin consenso")
    expect(answer.locator(".agreement")).to_contain_text("2 de 2 modelos")
    assert {r["model"] for r in stack.ollama.stats.chat_requests[asked:]} == {DEFAULT_MODEL, OTHER_MODEL}
    screenshot(page, "consensus")
    # The toggle is remembered: a reload keeps asking every model.
    page.reload()
    expect(page.locator("#consensus-toggle")).to_be_checked()


VACATION_QUESTION = "¿Cuántos días de vacaciones tienen los empleados de Capibara6?"


def wait_until_indexed(stack, question: str, wait: float = 120) -> None:
    """MCP may answer before its documents are in the index (background indexing): wait for them."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        reply = requests.post(f"{stack.nginx.url}/api/mcp/augment", json={"prompt": question}, timeout=30)
        if reply.status_code == 200 and reply.json()["needs_context"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"MCP found no context for {question!r} within {wait}s")


def test_mcp_adds_context_to_the_question_and_shows_its_sources(page, stack, model):
    wait_until_indexed(stack, VACATION_QUESTION)
    model(OTHER_MODEL, reply="Tienen 23 días laborables al año.")
    page.locator("#model").select_option(OTHER_MODEL)
    page.locator("#mcp-toggle").check()
    send(page, VACATION_QUESTION)
    answer = answer_done(page)
    sent = stack.ollama.stats.chat_requests[-1]["messages"][-1]["content"]
    assert sent.startswith("[CONTEXTO VERIFICADO]") and "23 días laborables" in sent
    sources = answer.locator(".source-list")
    expect(sources.locator("summary")).to_contain_text("Contexto añadido (MCP)")
    sources.locator("summary").click()
    expect(sources.locator("li").first).to_contain_text("23 días laborables")
    # The conversation keeps the question as asked, not the augmented prompt.
    expect(page.locator("article.message.user .plain")).to_have_text(VACATION_QUESTION)


def conversation_titles(page):
    return page.locator("#conversations li .open")


def test_conversations_are_kept_listed_renamed_and_deleted(page):
    send(page, "Primera pregunta")
    answer_done(page)
    page.locator("#new-chat").click()
    expect(page.locator(".welcome")).to_be_visible()
    send(page, "Segunda pregunta")
    answer_done(page)
    expect(conversation_titles(page)).to_have_text(["Segunda pregunta", "Primera pregunta"])

    first = page.locator("#conversations li").nth(1)
    first.locator(".rename").click()
    page.locator(".rename-input").fill("Mi charla")
    page.locator(".rename-input").press("Enter")
    expect(conversation_titles(page)).to_have_text(["Segunda pregunta", "Mi charla"])

    # Kept in the browser: after a reload the list and the open conversation are there.
    page.reload()
    expect(conversation_titles(page)).to_have_text(["Segunda pregunta", "Mi charla"])
    expect(page.locator("article.message.user .plain")).to_have_text("Segunda pregunta")
    page.locator("#conversations li").nth(1).locator(".open").click()
    expect(page.locator("article.message.user .plain")).to_have_text("Primera pregunta")

    remove = page.locator("#conversations li").nth(0).locator(".delete")
    remove.click()
    expect(conversation_titles(page)).to_have_count(2)  # asks once more first
    remove.click()
    expect(conversation_titles(page)).to_have_text(["Mi charla"])


def test_save_sends_the_conversation_to_the_server(page, stack):
    send(page, "Guárdame esto")
    answer_done(page)
    send(page, "Y esto también")
    answer_done(page)
    page.locator("#save").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("Conversación guardada en el servidor (2 mensajes")
    saved_id = page.locator("#notice-text").inner_text().rsplit("id ", 1)[1].rstrip(").")
    state_dir = Path(stack.services["chat"].env["CAPIBARA6_STATE_DIR"])
    store = ConversationStore(open_database(StorageSettings(state_dir), SCHEMA, SQLITE_FILE))
    assert store.load(saved_id) == [
        {"message": "Guárdame esto", "response": "Guárdame esto"},
        {"message": "Y esto también", "response": "Y esto también"},
    ]
