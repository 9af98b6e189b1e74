"""Typed readers for a parsed YAML file that fail with one line: '<file>: <key>: <problem>'."""

from __future__ import annotations

import math

from capibara6.kit.settings import ConfigError


class Checker:
    """Small typed readers that raise ConfigError as '<file>: <key>: <problem>'."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str):
        raise ConfigError(f"{self.source}: {where}: {problem}")

    def mapping(self, value, where: str, *, keys: set[str], required: set[str] = frozenset()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, "must be a mapping of keys to values")
        unknown = sorted(str(key) for key in value if key not in keys)
        if unknown:
            self.fail(where, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(keys))})")
        missing = sorted(key for key in required if key not in value)
        if missing:
            self.fail(where, f"'{missing[0]}' is required")
        return value

    def text(self, value, where: str, *, empty: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be text, got {value!r}")
        if not empty and not value.strip():
            self.fail(where, "must not be empty")
        return value.strip()

    def number(self, value, where: str, *, above: float | None = None, at_least: float | None = None,
               at_most: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(where, f"must be a number, got {value!r}")
        if above is not None and value <= above:
            self.fail(where, f"must be more than {above:g}, got {value!r}")
        if at_least is not None and value < at_least:
            self.fail(where, f"must be at least {at_least:g}, got {value!r}")
        if at_most is not None and value > at_most:
            self.fail(where, f"must be at most {at_most:g}, got {value!r}")
        return float(value)

    def flag(self, value, where: str) -> bool:
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false, got {value!r}")
        return value
