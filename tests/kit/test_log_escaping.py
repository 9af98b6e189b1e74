"""Log lines cannot be forged: control characters in logged values are escaped."""

from __future__ import annotations

import logging

import pytest
import requests

from capibara6.kit.logs import JournalFormatter


def _format(message: str, *args, exc_info=None) -> str:
    record = logging.LogRecord("capibara6.test", logging.WARNING, __file__, 1, message, args, exc_info)
    return JournalFormatter("%(name)s: %(message)s").format(record)


@pytest.mark.parametrize("value, shown", [
    ("denied\n<6>capibara6.auth.login: login via github: github:1", "denied\\n<6>capibara6"),
    ("a\r\n<0>panic", "a\\r\\n<0>panic"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("nul\x00del\x7fnel\x85", "nul\\x00del\\x7fnel\\x85"),
    ("line\u2028separator", "line\\u2028separator"),
    ("tab\there", "tab\\there"),
])
def test_a_value_with_control_characters_stays_on_one_line(value, shown):
    line = _format("login refused by %s: %s", "github", value)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert line.startswith("<4>capibara6.test: login refused by github: ")
    assert shown in line


def test_spanish_text_is_not_escaped():
    assert _format("respuesta: %s", "¿Qué tal? Ñandú, acción") == \
        "<4>capibara6.test: respuesta: ¿Qué tal? Ñandú, acción"


def test_a_traceback_keeps_its_lines_each_with_the_level():
    try:
        raise ValueError("boom")
    except ValueError as error:
        line = _format("failed: %s", "x\ny", exc_info=(type(error), error, error.__traceback__))
    lines = line.splitlines()
    assert lines[0] == "<4>capibara6.test: failed: x\\ny"
    assert len(lines) > 2 and all(part.startswith("<4>") for part in lines)


def test_a_request_path_cannot_forge_a_line_in_a_services_log(service):
    chat = service("chat", {"OLLAMA_URL": "http://127.0.0.1:9"})
    reply = requests.get(f"{chat.url}/nothing%0A%3C0%3Eforged:%20panic", timeout=10)
    assert reply.status_code == 404
    log = chat.log()
    assert "/nothing\\n<0>forged: panic 404" in log
    assert not any(line.startswith("<0>") for line in log.splitlines())
