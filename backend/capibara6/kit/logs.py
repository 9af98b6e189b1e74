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


class JournalFormatter(logging.Formatter):
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
