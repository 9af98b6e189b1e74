"""Chatting on the page: real streaming, stop, the model picker, keyboard, safe Markdown."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import (DEFAULT_MODEL, OTHER_MODEL, OTHER_REPLY, answer_done, last_answer,
                                    screenshot, send)

# Records the last answer's text length at every animation frame, until it is no longer streaming.
WATCH_FRAMES = """() => {
  const watch = window.__watch = { lengths: [], state: null };
  const look = () => {
    const answers = document.querySelectorAll("article.message.assistant");
    const answer = answers[answers.length - 1];
    if (answer) {
      watch.lengths.push(answer.querySelector(".content").textContent.length);
      if (answer.dataset.state !== "streaming") {
        watch.state = answer.dataset.state;
        return;
      }
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def words(count: int) -> str:
    return " ".join(f"palabra{index}" for index in range(count))


def test_tokens_appear_one_by_one_as_they_arrive(page, model):
    model(DEFAULT_MODEL, token_delay=0.05)
    question = words(40)
    page.evaluate(WATCH_FRAMES)
    send(page, question)
    expect(last_answer(page).locator(".content")).to_contain_text("palabra5")
    screenshot(page, "streaming")
    seen = page.wait_for_function("() => window.__watch.state && window.__watch").json_value()
    assert seen["state"] == "done"
    grown = [length for index, length in enumerate(seen["lengths"])
             if index and length > seen["lengths"][index - 1]]
    # The text grew in many steps over many frames, never all at once.
    assert len(grown) >= 10, seen["lengths"]
    assert len(set(seen["lengths"])) >= 10
    expect(last_answer(page).locator(".content")).to_have_text(question)


def test_stop_ends_the_stream_and_the_page_stays_usable(page, model, stack):
    model(DEFAULT_MODEL, token_delay=0.1)
    question = words(200)
    send(page, question)
    expect(page.locator("#stop")).to_be_visible()
    expect(last_answer(page).locator(".content")).to_contain_text("palabra3")
    page.locator("#stop").click()
    stopped = answer_done(page, "stopped")
    expect(stopped).to_contain_text("(respuesta detenida)")
    shown = stopped.locator(".content").inner_text()
    assert "palabra3" in shown and "palabra199" not in shown
    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()

    # Esc stops too; then the page still answers, in the same conversation.
    send(page, words(200))
    expect(last_answer(page).locator(".content")).to_contain_text("palabra2")
    page.keyboard.press("Escape")
    answer_done(page, "stopped")
    model(DEFAULT_MODEL, token_delay=0.0)
    send(page, "¿Sigues ahí?")
    expect(answer_done(page).locator(".content")).to_have_text("¿Sigues ahí?")
    expect(page.locator("article.message.assistant")).to_have_count(3)


def test_an_answer_cut_by_leaving_the_page_is_kept_as_stopped(page, model):
    model(DEFAULT_MODEL, token_delay=0.1)
    send(page, words(100))
    expect(last_answer(page).locator(".content")).to_contain_text("palabra3")
    page.reload()
    stopped = answer_done(page, "stopped")
    expect(stopped.locator(".content")).to_contain_text("palabra3")
    expect(stopped.locator("[data-action=regenerate]")).to_be_enabled()
    expect(page.locator("#send")).to_be_visible()


def test_enter_sends_and_shift_enter_is_a_new_line(page, stack):
    before = len(stack.ollama.stats.chat_requests)
    prompt = page.locator("#prompt")
    prompt.focus()
    page.keyboard.type("primera línea")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("segunda línea")
    assert prompt.input_value() == "primera línea\nsegunda línea"
    assert len(stack.ollama.stats.chat_requests) == before
    page.keyboard.press("Enter")
    answer_done(page)
    assert prompt.input_value() == ""
    assert stack.ollama.stats.chat_requests[-1]["messages"][-1]["content"] == "primera línea\nsegunda línea"
    expect(page.locator("article.message.user .plain")).to_have_text("primera línea\nsegunda línea")


def test_the_model_picker_switches_the_model_sent(page, stack):
    picker = page.locator("#model")
    expect(picker.locator("option")).to_have_text([DEFAULT_MODEL, OTHER_MODEL])
    expect(picker).to_have_value(DEFAULT_MODEL)
    picker.select_option(OTHER_MODEL)
    send(page, "¿Quién eres?")
    answer = answer_done(page)
    expect(answer.locator(".content")).to_have_text(OTHER_REPLY)
    expect(answer.locator(".model")).to_have_text(OTHER_MODEL)
    assert stack.ollama.stats.chat_requests[-1]["model"] == OTHER_MODEL

    # The choice stays after a reload, and switching back sends the other model again.
    page.reload()
    expect(page.locator("#model")).to_have_value(OTHER_MODEL)
    page.locator("#model").select_option(DEFAULT_MODEL)
    send(page, "hola")
    answer_done(page)
    assert stack.ollama.stats.chat_requests[-1]["model"] == DEFAULT_MODEL


HOSTILE = """Aquí va el código:

<script>window.__pwned = "script";</script>
<img src="x" onerror="window.__pwned = 'img'">
[pulsa](javascript:window.__pwned='link') y [la documentación](https://example.org/docs)

```python
def saluda(nombre):
    return f"<b>Hola, {nombre}</b>"
```

**Hecho**."""


def test_html_in_an_answer_is_shown_as_text_and_never_runs(page, model):
    model(OTHER_MODEL, reply=HOSTILE)
    page.locator("#model").select_option(OTHER_MODEL)
    send(page, "Enséñame código")
    answer = answer_done(page)
    content = answer.locator(".content")
    expect(content).to_contain_text('<script>window.__pwned = "script";</script>')
    expect(content).to_contain_text("<img src=\"x\" onerror=")
    # Markdown still works: a code block with its text, bold, and an http(s) link only.
    expect(content.locator(".code-block code")).to_have_text('def saluda(nombre):\n    return f"<b>Hola, {nombre}</b>"')
    expect(content.locator(".code-block .code-head span")).to_have_text("python")
    expect(content.locator("strong")).to_have_text("Hecho")
    expect(content.locator("a")).to_have_count(1)
    expect(content.locator("a")).to_have_attribute("href", "https://example.org/docs")
    # Nothing the model wrote became an element of the page.
    assert content.locator("script, img, b, [onerror]").count() == 0
    assert page.evaluate("window.__pwned") is None
    # The user's own text is never HTML either.
    send(page, "<i>cursiva</i> <script>window.__pwned = 'user'</script>")
    answer_done(page)
    assert page.locator("#messages i, #messages script").count() == 0
    assert page.evaluate("window.__pwned") is None
    page.locator("#messages article.message.assistant").first.scroll_into_view_if_needed()
    screenshot(page, "html-shown-as-text")


def test_markdown_renderer_escapes_before_it_renders(page):
    rendered = page.evaluate("""async () => {
        const { render } = await import("./js/markdown.js");
        return {
          tags: render("<script>x</script> <b onclick=y>z</b> &amp;"),
          link: render("[a](javascript:alert(1)) [b](https://x.org/?q=\\"><script>)"),
          fence: render("```html\\n<script>alert(1)</script>\\n"),
          list: render("- uno\\n- **dos**\\n\\n1. tres"),
        };
    }""")
    assert rendered["tags"] == "<p>&lt;script&gt;x&lt;/script&gt; &lt;b onclick=y&gt;z&lt;/b&gt; &amp;amp;</p>"
    assert "href=\"javascript" not in rendered["link"] and "<script>" not in rendered["link"]
    assert '<a href="https://x.org/?q=&quot;&gt;&lt;script&gt;"' in rendered["link"]
    assert "<code class=\"language-html\">&lt;script&gt;alert(1)&lt;/script&gt;</code>" in rendered["fence"]
    assert rendered["list"] == "<ul><li>uno</li><li><strong>dos</strong></li></ul><ol><li>tres</li></ol>"


def test_copy_and_regenerate_on_an_answer(page, stack, model):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    first = "Primera respuesta:\n\n```sh\nmake serve-web\n```"
    model(OTHER_MODEL, reply=first)
    page.locator("#model").select_option(OTHER_MODEL)
    send(page, "Dime algo")
    answer = answer_done(page)
    answer.locator("[data-action=copy]").click()
    expect(answer.locator("[data-action=copy]")).to_have_text("¡Copiado!")
    assert page.evaluate("navigator.clipboard.readText()") == first
    answer.locator(".copy-code").click()
    expect(answer.locator(".copy-code")).to_have_text("¡Copiado!")
    assert page.evaluate("navigator.clipboard.readText()") == "make serve-web"

    model(OTHER_MODEL, reply="Segunda respuesta.")
    asked = len(stack.ollama.stats.chat_requests)
    answer.locator("[data-action=regenerate]").click()
    expect(answer_done(page).locator(".content")).to_have_text("Segunda respuesta.")
    # The same question again, in place of the old answer: one question, one answer.
    expect(page.locator("article.message")).to_have_count(2)
    assert len(stack.ollama.stats.chat_requests) == asked + 1
    assert stack.ollama.stats.chat_requests[-1]["messages"][-1]["content"] == "Dime algo"
