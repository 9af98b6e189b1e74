"""The JSON body reader, and validation into a route's pydantic model (kit/contract.py);
each raises BadRequest naming what is wrong."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from capibara6.kit.errors import BadRequest

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


def model(data: dict, model_class, *, context: dict | None = None):
    """data validated into a pydantic model (kit/contract.py), or a 400 naming the field.

    A null field counts as absent, as in the readers above: optional fields take
    their default, required ones are missing. `context` carries limits that come
    from settings (kit/contract.limited)."""
    try:
        return model_class.model_validate({k: v for k, v in data.items() if v is not None},
                                          context=context)
    except ValidationError as error:
        raise _bad_request(error.errors(include_url=False)[0]) from None


# Our codes by pydantic's error type; a validator of ours raises PydanticCustomError
# with one of our codes as its type. Any other type is an invalid field.
_CODES = {"missing": "missing_field", "missing_field": "missing_field", "invalid_field": "invalid_field"}


def _bad_request(detail: dict) -> BadRequest:
    location = detail.get("loc") or ()
    name = str(location[0]) if location else None
    # Something missing inside a field (an empty item of a list) makes the field invalid.
    code = _CODES.get(detail["type"], "invalid_field") if len(location) <= 1 else "invalid_field"
    if name is None:
        return BadRequest(detail["msg"], code=code)
    if detail["type"] == "missing":
        return BadRequest(f"'{name}' is required", code=code, field=name)
    where = name + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location[1:])
    return BadRequest(f"'{where}': {detail['msg']}", code=code, field=name)
