"""Light and dark themes follow the system; screenshots of the page at rest for a person to look at."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import OTHER_MODEL, answer_done, open_page, ready, screenshot, send

CODE_REPLY = """Claro. Para invertir una cadena en Python:

```python
def invierte(texto: str) -> str:
    return texto[::-1]
```

Usa `invierte("hola")` y obtendrás **"aloh"**."""


def brightness(page, selector: str, prop: str = "backgroundColor") -> float:
    color = page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).{prop}")
    red, green, blue = (int(v) for v in re.findall(r"\d+", color)[:3])
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_system(browser, stack, model, scheme):
    page, problems = open_page(browser, stack.url, color_scheme=scheme)
    ready(page)
    if scheme == "light":
        screenshot(page, "empty")
    background, text = brightness(page, "body"), brightness(page, "body", "color")
    if scheme == "dark":
        assert background < 0.15 < 0.7 < text
    else:
        assert text < 0.15 < 0.7 < background
    model(OTHER_MODEL, reply=CODE_REPLY)
    page.locator("#model").select_option(OTHER_MODEL)
    send(page, "Escribe una función en Python que invierta una cadena")
    answer_done(page)
    code = brightness(page, ".code-block pre")
    assert (code < 0.15) if scheme == "dark" else (code > 0.7)
    screenshot(page, "dark" if scheme == "dark" else "answer-with-code")
    page.context.close()
    assert problems == []
