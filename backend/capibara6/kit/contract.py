"""Each route's contract, declared once, next to the route: its request body
and query as pydantic models, its answers by status.

`@operation(...)` on a view does two things with one declaration: the body is
read (kit/validation.json_object: depth, lone surrogates, NaN) and validated
into the model, which the view gets as `body`, with pydantic's errors turned
into our 400 `{error, code, field}`; and the declaration is kept on the view,
from which openapi_document() builds the service's OpenAPI 3.1 document
(served at GET /openapi.json and committed under docs/).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

from flask import Flask, request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

import capibara6
from capibara6.kit import validation
from capibara6.kit.services import DESCRIPTIONS, SERVICES, unit_name

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
# What every error status means; each one's body is ErrorBody.
ERROR_MEANINGS = {
    400: "The request is malformed: a field is missing or invalid, or the body is not a JSON object",
    401: "No valid token (also on every route when CAPIBARA6_REQUIRE_AUTH is true)",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "The request body, a field or an upload is larger than its limit",
    415: "The body's media type or an upload's encoding is not accepted",
    429: "Too many requests",
    500: "Internal error (never expected; see the service log)",
    502: "The upstream (Ollama, the login provider) failed or is unreachable",
    503: "Not ready yet (warming up) or degraded",
    504: "The upstream did not answer in time",
    507: "Storage failed",
}
# Every operation may answer these: a body too large (413) is checked before any route runs,
# and CAPIBARA6_REQUIRE_AUTH puts a token check (401, 502/503 when auth cannot be asked) in front.
COMMON_ERRORS = (401, 413)


class Model(BaseModel):
    """A request body: strict types (no "1" for 1, no true for 1), unknown fields ignored.
    A null field counts as absent (kit/validation.drop_nulls), so optional fields say null too."""

    model_config = ConfigDict(strict=True, extra="ignore")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("missing_field", "must not be empty")
    return value


# A text that must say something: empty or only spaces is a missing field, as ever.
Text = Annotated[str, AfterValidator(_not_blank)]


def limited(setting: str, unit: str = "characters"):
    """A check that a text (or a list) is no longer than the limit the service's settings put
    under `setting` in the validation context (operation(context=...)): Annotated[Text, limited(...)]."""
    def check(value, info: ValidationInfo):
        limit = (info.context or {}).get(setting)
        if limit is not None and len(value) > limit:
            raise PydanticCustomError("invalid_field", "longer than {limit} " + unit, {"limit": limit})
        return value
    return AfterValidator(check)


class Reply(BaseModel):
    """A response body: the fields listed are promised; more may come."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(Reply):
    error: str = Field(description="What went wrong, for a person")
    code: str = Field(description="What went wrong, for a program: missing_field, invalid_field, "
                                  "invalid_json, payload_too_large, upstream_error...")
    field: str | None = Field(None, description="The request field at fault, when there is one")


@dataclass(frozen=True)
class Answer:
    """One documented answer: a JSON model, or another media type (audio/wav, text/event-stream)."""

    description: str
    model: type[BaseModel] | None = None
    media_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    alternatives: tuple[str, ...] = ()  # other media types it may come as (a stream)


@dataclass(frozen=True)
class Operation:
    summary: str
    answers: dict[int, Answer]
    body: type[Model] | None = None
    body_required: bool = True
    query: type[Model] | None = None
    form: type[Model] | None = None  # a multipart/form-data body accepted too, with these fields
    errors: tuple[int, ...] = ()
    tag: str | None = None


def operation(summary: str, *, ok: Answer | type[BaseModel], body: type[Model] | None = None,
              body_required: bool = True, reader: Callable[[], dict] | None = None,
              query: type[Model] | None = None, form: type[Model] | None = None, errors: tuple[int, ...] = (),
              status: int = 200, more: dict[int, Answer] | None = None,
              context: Callable[[], dict] | None = None):
    """Declare a view's contract. With `body`, the view is called with `body=<the model>`;
    `reader` reads the request into a dict instead of the JSON body (multipart forms);
    `context` gives the limits that come from settings (see limited())."""
    answer = ok if isinstance(ok, Answer) else Answer("OK", ok)
    declared = Operation(summary=summary, answers={status: answer, **(more or {})}, body=body,
                         body_required=body_required, query=query, form=form,
                         errors=tuple(sorted({*errors, *COMMON_ERRORS, *((400,) if body or query else ())})))

    def decorate(view):
        if body is None:
            view.contract = declared
            return view

        @functools.wraps(view)
        def validated(*args, **kwargs):
            if reader is not None:
                data = reader()
            elif not body_required and not request.get_data(cache=True):
                data = {}
            else:
                data = validation.json_object(request)
            kwargs["body"] = validation.model(data, body, context=context() if context else None)
            return view(*args, **kwargs)

        validated.contract = declared
        return validated
    return decorate


def contract_of(view) -> Operation | None:
    return getattr(view, "contract", None)


# Flask's <converter(args):name> in a rule.
_RULE_PART = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def _path_and_parameters(rule: str) -> tuple[str, list[dict]]:
    parameters = []
    for match in _RULE_PART.finditer(rule):
        schema: dict[str, Any] = {"type": "string"}
        if match["converter"] == "any":
            schema["enum"] = [part.strip().strip("'\"") for part in match["args"].split(",")]
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return _RULE_PART.sub(lambda m: "{" + m["name"] + "}", rule), parameters


class _Schemas:
    """components/schemas: every model once, by name, with $refs between them."""

    def __init__(self):
        self.components: dict[str, dict] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict:
        schema = model.model_json_schema(mode=mode, ref_template="#/components/schemas/{model}")
        for name, nested in schema.pop("$defs", {}).items():
            self.components[name] = nested
        self.components[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [{"name": name, "in": "query", "required": name in required,
             "description": prop.get("description", ""),
             "schema": {k: v for k, v in prop.items() if k not in ("description", "title")}}
            for name, prop in schema.get("properties", {}).items()]


def _content(answer: Answer, schemas: _Schemas) -> dict:
    content = {}
    if answer.model is not None:
        content[answer.media_type] = {"schema": schemas.ref(answer.model, "serialization")}
    for media_type in (answer.media_type, *answer.alternatives):
        content.setdefault(media_type, {"schema": _stream_schema(media_type)})
    return content


# Every route reads it (kit/app.py): kept and sent back when it is 1-128 of A-Z a-z 0-9 . _ : -,
# else replaced by a new one.
REQUEST_ID = {"name": "X-Request-ID", "in": "header", "required": False,
              "description": "Ties the request to its log line; answered in X-Request-ID",
              "schema": {"type": "string"}}


# A server-sent event, as each one of a text/event-stream is read: its data line is a JSON
# object, or OpenAI's closing [DONE].
SSE_EVENT = {"type": "object", "required": ["data"],
             "properties": {"event": {"type": "string"}, "data": {"type": "string"}},
             "description": "Each event of the stream"}


def _stream_schema(media_type: str) -> dict:
    if media_type == "text/event-stream":
        return SSE_EVENT
    if media_type.startswith("text/"):
        return {"type": "string"}
    return {"type": "string", "contentMediaType": media_type}


def _operation_object(method: str, path: str, declared: Operation, parameters: list[dict],
                      schemas: _Schemas, service: str) -> dict:
    responses: dict[str, Any] = {}
    for status, answer in sorted(declared.answers.items()):
        response: dict[str, Any] = {"description": answer.description, "content": _content(answer, schemas)}
        if answer.headers:
            response["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                   for name, text in answer.headers.items()}
        responses[str(status)] = response
    for status in declared.errors:
        if str(status) not in responses:
            responses[str(status)] = {"description": ERROR_MEANINGS[status],
                                      "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    op: dict[str, Any] = {
        "operationId": f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_') or 'root'}",
        "summary": declared.summary,
        "tags": [declared.tag or service],
        "responses": responses,
    }
    parameters = parameters + [REQUEST_ID]
    if declared.query is not None:
        parameters = parameters + _query_parameters(declared.query)
    if parameters:
        op["parameters"] = parameters
    if declared.body is not None:
        content = {JSON: {"schema": schemas.ref(declared.body, "validation")}}
        if declared.form is not None:
            content["multipart/form-data"] = {"schema": schemas.ref(declared.form, "validation")}
        op["requestBody"] = {"required": declared.body_required, "content": content}
    return op


def openapi_document(app: Flask, service: str) -> dict:
    """The service's OpenAPI 3.1 document, from its routes' declared contracts."""
    schemas = _Schemas()
    schemas.ref(ErrorBody, "serialization")
    paths: dict[str, dict] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        declared = contract_of(app.view_functions[rule.endpoint])
        if declared is None:
            continue  # /static and anything not part of the contract
        path, parameters = _path_and_parameters(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation_object(
                method.lower(), path, declared, parameters, schemas, service)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": unit_name(service), "version": capibara6.__version__,
                 "description": f"{DESCRIPTIONS[service]}. Listens on 127.0.0.1:{SERVICES[service]} "
                                "by default. Every error is JSON: {error, code, field?}."},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                "description": "A token from the auth service; needed on every route but /health, "
                               "/metrics and /openapi.json when CAPIBARA6_REQUIRE_AUTH is true"}},
        },
        "security": [{}, {"bearer": []}],
    }
