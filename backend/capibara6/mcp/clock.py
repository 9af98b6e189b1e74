"""The current date and time as the "current_date" context says it, in Spanish.

Computed at each call (never cached): a prompt augmented at 23:59 and one at
00:01 get different days. Names come from tables here, not from the locale,
so the text does not depend on which locales the host has installed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
          "septiembre", "octubre", "noviembre", "diciembre")


class Clock:
    """Now, in one time zone. `now` is a seam for tests (a function returning an aware datetime)."""

    def __init__(self, timezone: str, now: Callable[[ZoneInfo], datetime] | None = None):
        self.timezone = timezone
        self._zone = ZoneInfo(timezone)
        self._now = now or (lambda zone: datetime.now(zone))

    def now(self) -> datetime:
        return self._now(self._zone)

    def facts(self) -> dict:
        """What GET /api/mcp/context/current_date returns."""
        moment = self.now()
        return {
            "date": moment.strftime("%Y-%m-%d"),
            "time": moment.strftime("%H:%M:%S"),
            "day_of_week": WEEKDAYS[moment.weekday()],
            "year": moment.year,
            "timezone": self.timezone,
            "utc_offset": moment.strftime("%z"),
            "iso": moment.isoformat(timespec="seconds"),
            "text": describe(moment, self.timezone),
        }

    def text(self) -> str:
        return describe(self.now(), self.timezone)


def describe(moment: datetime, timezone: str) -> str:
    """'Hoy es martes, 25 de noviembre de 2025; son las 16:05 (Europe/Madrid, UTC+01:00).'"""
    offset = moment.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return (f"Hoy es {WEEKDAYS[moment.weekday()]}, {moment.day} de {MONTHS[moment.month - 1]} "
            f"de {moment.year}; son las {moment:%H:%M} ({timezone}, {offset}).")
