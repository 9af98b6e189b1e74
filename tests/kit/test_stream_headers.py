"""Streamed responses tell a fronting nginx not to buffer them (X-Accel-Buffering: no),
set in one place (kit/app.py) for every service; whole responses keep nginx's buffering."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from capibara6.kit.app import create_app
from capibara6.kit.settings import CommonSettings, Env


def make_app(tmp_path):
    bp = Blueprint("probe", __name__)

    @bp.get("/streamed")
    def streamed():
        return Response((piece for piece in ("data: a\n\n", "data: b\n\n")), mimetype="text/event-stream")

    @bp.get("/whole")
    def whole():
        return jsonify({"ok": True})

    env = Env({"CAPIBARA6_STATE_DIR": str(tmp_path / "state"), "CAPIBARA6_CACHE_DIR": str(tmp_path / "cache")})
    return create_app(CommonSettings.from_env("probe", env), blueprints=[bp])


def test_a_streamed_response_says_not_to_buffer_it(tmp_path):
    response = make_app(tmp_path).test_client().get("/streamed")
    assert response.headers["X-Accel-Buffering"] == "no"
    assert response.get_data(as_text=True) == "data: a\n\ndata: b\n\n"


def test_a_whole_response_does_not(tmp_path):
    client = make_app(tmp_path).test_client()
    assert "X-Accel-Buffering" not in client.get("/whole").headers
    assert "X-Accel-Buffering" not in client.get("/health").headers
