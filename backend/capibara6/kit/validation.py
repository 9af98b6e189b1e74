"""Readers for JSON request fields. Each raises BadRequest naming the field."""

from __future__ import annotations

import json
from typing import Any

from capibara6.kit.errors import BadRequest

_MISSING = object()


# Deeper than any body of ours: a request nested past this is refused before
# any route reads it (Python's JSON reader would otherwise raise RecursionError).
MAX_JSON_DEPTH = 32
_TOO_DEEP = f"the request body is nested deeper than {MAX_JSON_DEPTH} levels"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _check_tree(data: Any) -> None:
    """Depth within MAX_JSON_DEPTH and every string encodable as UTF-8 (no lone
    surrogates such as "\\ud800"), walked without recursion. A bad string is
    named by the top-level field it sits in."""
    pending = [(data, 1, None)]
    while pending:
        value, depth, field = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(_TOO_DEEP, code="invalid_json")
        if isinstance(value, dict):
            for key, item in value.items():
                here = field if field is not None else key
                _check_text(key, here)
                pending.append((item, depth + 1, here))
        elif isinstance(value, list):
            pending.extend((item, depth + 1, field) for item in value)
        elif isinstance(value, str):
            _check_text(value, field)


def _check_text(value: str, field: str | None) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"'{field}' holds a lone surrogate (\\ud800-\\udfff): not valid text",
                         code="invalid_field", field=field) from None


def json_object(request) -> dict:
    """The request body as a JSON object, or a 400 that says what is wrong."""
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("the request body is empty; send a JSON object", code="invalid_json")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise BadRequest(_TOO_DEEP, code="invalid_json") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN and Infinity
        raise BadRequest(f"the request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object", code="invalid_json")
    _check_tree(data)
    return data


def text(body: dict, name: str, *, default: Any = _MISSING, max_length: int | None = None,
         allow_empty: bool = False) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise BadRequest(f"'{name}' is required", code="missing_field", field=name)
        return default
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string", code="invalid_field", field=name)
    if not allow_empty and not value.strip():
        raise BadRequest(f"'{name}' must not be empty", code="missing_field", field=name)
    if max_length is not None and len(value) > max_length:
        raise BadRequest(f"'{name}' is longer than {max_length} characters",
                         code="invalid_field", field=name)
    return value


def number(body: dict, name: str, *, default: Any, minimum: float | None = None,
           maximum: float | None = None, integer: bool = False) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        return default
    # bool is an int in Python; a JSON true is not a number here.
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a whole number" if integer else "a number"
        raise BadRequest(f"'{name}' must be {kind}", code="invalid_field", field=name)
    if minimum is not None and value < minimum:
        raise BadRequest(f"'{name}' must be at least {minimum}", code="invalid_field", field=name)
    if maximum is not None and value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}", code="invalid_field", field=name)
    return value


def boolean(body: dict, name: str, *, default: bool) -> bool:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"'{name}' must be true or false", code="invalid_field", field=name)
    return value


def list_of(body: dict, name: str, *, default: Any = _MISSING, max_items: int = 1000) -> Any:
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise BadRequest(f"'{name}' is required", code="missing_field", field=name)
        return default
    if not isinstance(value, list):
        raise BadRequest(f"'{name}' must be a list", code="invalid_field", field=name)
    if len(value) > max_items:
        raise BadRequest(f"'{name}' has more than {max_items} items", code="invalid_field", field=name)
    return value
