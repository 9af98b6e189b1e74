"""Log lines on stderr with journald's <N> priority prefixes.

journald reads the prefix (SyslogLevelPrefix= is on by default), so
`journalctl -p warning -u capibara6-chat` selects by level; systemd's
SyslogIdentifier= names the unit, so the line itself stays short.
"""

from __future__ import annotations

import logging
import sys

_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def _control_escapes() -> dict[int, str]:
    # C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
    codes = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return {code: named.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
            for code in codes}


_ESCAPES = _control_escapes()


def escape_controls(text: str) -> str:
    """text with every control character written as an escape (a newline as \\n)."""
    return text.translate(_ESCAPES)


class JournalFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message with its values (a client's path, a provider's error...) is one line
        # whatever they hold: a newline in a value would start a line of its own, with a
        # <N> prefix of the client's choosing. Only the traceback below keeps its lines.
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # Every physical line carries the prefix, so a traceback keeps its level.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # waitress logs each queue-depth warning; keep its own info chatter out.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
