"""Routes of the chat gateway (port 5001). Logic lives in gateway.py."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from capibara6.chat import openai_compat
from capibara6.chat.gateway import (Gateway, decode_attachment, form_to_body,
                                    parse_chat_request)
from capibara6.kit import validation
from capibara6.kit.errors import PayloadTooLarge

bp = Blueprint("chat", __name__)
STREAM_HEADERS = {"Cache-Control": "no-cache"}  # X-Accel-Buffering: kit/app.py


def _gateway() -> Gateway:
    return current_app.extensions["capibara6.chat"]


def _chat_request():
    settings = current_app.extensions["capibara6.chat.settings"]
    attachments = []
    if request.mimetype == "multipart/form-data":
        body = form_to_body(request.form.to_dict())
        for upload in request.files.getlist("files"):
            data = upload.read(settings.max_upload_bytes + 1)
            if len(data) > settings.max_upload_bytes:
                raise PayloadTooLarge(f"the file '{upload.filename}' is larger than the limit of "
                                      f"{settings.max_upload_bytes} bytes")
            attachments.append((upload.filename or "archivo", decode_attachment(upload.filename, data)))
    else:
        body = validation.json_object(request)
    return parse_chat_request(body, default_model=settings.ollama_model,
                              default_system=settings.system_prompt,
                              max_chars=settings.max_message_chars, attachments=attachments)


@bp.post("/api/chat")
def chat():
    return jsonify(_gateway().chat(_chat_request()))


@bp.post("/api/chat/stream")
def chat_stream():
    events = _gateway().sse_events(_chat_request())
    return Response(events, mimetype="text/event-stream", headers=STREAM_HEADERS)


@bp.get("/api/models")
def models():
    return jsonify(_gateway().models())


@bp.post("/api/save-conversation")
def save_conversation():
    store = current_app.extensions["capibara6.chat.store"]
    return jsonify(store.save(validation.json_object(request)))


@bp.post("/v1/chat/completions")
def openai_chat_completions():
    gateway = _gateway()
    settings = current_app.extensions["capibara6.chat.settings"]
    parsed = openai_compat.parse(validation.json_object(request), settings.ollama_model)
    if parsed["stream"]:
        return Response(openai_compat.stream(gateway, parsed), mimetype="text/event-stream",
                        headers=STREAM_HEADERS)
    return jsonify(openai_compat.completion(gateway, parsed))


@bp.get("/v1/models")
def openai_models():
    return jsonify(openai_compat.models(_gateway()))
