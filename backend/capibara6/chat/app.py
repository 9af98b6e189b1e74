"""Routes of the chat gateway (port 5001). Logic lives in gateway.py; bodies in contracts.py."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from capibara6.chat import contracts, openai_compat
from capibara6.chat.gateway import Gateway, chat_request, decode_attachment, form_to_body
from capibara6.kit import validation
from capibara6.kit.contract import Answer, operation
from capibara6.kit.errors import PayloadTooLarge

bp = Blueprint("chat", __name__)
STREAM_HEADERS = {"Cache-Control": "no-cache"}  # X-Accel-Buffering: kit/app.py
EVENTS = "text/event-stream"
# 404: a model Ollama does not have; 502/504: Ollama failed or did not answer in time.
UPSTREAM_ERRORS = (404, 502, 503, 504)  # 503: busy, every Ollama slot taken


def _gateway() -> Gateway:
    return current_app.extensions["capibara6.chat"]


def _settings():
    return current_app.extensions["capibara6.chat.settings"]


def _limits() -> dict:
    return {"max_chars": _settings().max_message_chars}


def _attachments() -> list[tuple[str, str]]:
    settings, attachments = _settings(), []
    for upload in request.files.getlist("files"):
        data = upload.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge(f"the file '{upload.filename}' is larger than the limit of "
                                  f"{settings.max_upload_bytes} bytes")
        attachments.append((upload.filename or "archivo", decode_attachment(upload.filename, data)))
    return attachments


def _json_or_form() -> dict:
    if request.mimetype == "multipart/form-data":
        return form_to_body(request.form.to_dict())
    return validation.json_object(request)


def _chat_request(body: contracts.ChatBody):
    settings = _settings()
    attachments = _attachments() if request.mimetype == "multipart/form-data" else []
    return chat_request(body, default_model=settings.ollama.model, default_system=settings.system_prompt,
                        attachments=attachments)


@bp.post("/api/chat")
@operation("Chat with a model: the whole answer at once", body=contracts.ChatBody, reader=_json_or_form,
           context=_limits, form=contracts.ChatForm, ok=contracts.ChatReply, errors=(415, *UPSTREAM_ERRORS))
def chat(body: contracts.ChatBody):
    return jsonify(_gateway().chat(_chat_request(body)))


@bp.post("/api/chat/stream")
@operation("Chat with a model: tokens as server-sent events, then a done event",
           body=contracts.ChatBody, reader=_json_or_form, context=_limits, form=contracts.ChatForm,
           ok=Answer("data: {content, done} events; the last has done: true and full_response, or "
                     "error and code", media_type=EVENTS), errors=(415, *UPSTREAM_ERRORS))
def chat_stream(body: contracts.ChatBody):
    events = _gateway().sse_events(_chat_request(body))
    return Response(events, mimetype=EVENTS, headers=STREAM_HEADERS)


@bp.get("/api/models")
@operation("The models Ollama has (or the configured one when Ollama does not answer)",
           ok=contracts.ModelsReply)
def models():
    return jsonify(_gateway().models())


@bp.post("/api/save-conversation")
@operation("Save one exchange or a list of them", body=contracts.SaveBody, context=_limits,
           ok=contracts.SaveReply, errors=(503,))
def save_conversation(body: contracts.SaveBody):
    store = current_app.extensions["capibara6.chat.store"]
    return jsonify(store.save(body.model_dump(exclude_none=True)))


@bp.post("/v1/chat/completions")
@operation("OpenAI-compatible chat completion (stream: true for server-sent chunks)",
           body=contracts.CompletionBody, errors=UPSTREAM_ERRORS,
           ok=Answer("A chat.completion; with stream: true, chat.completion.chunk events ending in "
                     "data: [DONE]", contracts.CompletionReply, alternatives=(EVENTS,)))
def openai_chat_completions(body: contracts.CompletionBody):
    gateway = _gateway()
    parsed = openai_compat.parse(body, _settings().ollama.model)
    if parsed["stream"]:
        return Response(openai_compat.stream(gateway, parsed), mimetype=EVENTS, headers=STREAM_HEADERS)
    return jsonify(openai_compat.completion(gateway, parsed))


@bp.get("/v1/models")
@operation("OpenAI-compatible model list", ok=contracts.OpenAIModelsReply)
def openai_models():
    return jsonify(openai_compat.models(_gateway()))
