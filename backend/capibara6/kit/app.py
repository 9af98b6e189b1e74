"""The application factory every service is built with.

create_app() returns a Flask app that already has: JSON errors with true
HTTP statuses, the CORS allow-list, X-Request-ID, one log line per request,
GET /health (and the service's legacy health paths) and GET /metrics. The
service adds its blueprints and, through Runtime, what serving needs to know:
how to warm up before READY=1, how to reload on SIGHUP, what to put in
systemd's STATUS= line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from flask import Flask, Response, g, jsonify, request
from flask_cors import CORS
from pydantic import Field
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

import capibara6
from capibara6.kit.contract import Answer, Reply, openapi_document, operation
from capibara6.kit.errors import HTTP_CODES, ApiError
from capibara6.kit.services import unit_name
from capibara6.kit.settings import CommonSettings

log = logging.getLogger("capibara6.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# A health check returns (ok, details); details go under "checks" in /health.
HealthCheck = Callable[[], tuple[bool, dict]]


class HealthReply(Reply):
    status: str = Field(description="ok, degraded (a check failed), or starting (503)")
    service: str
    version: str
    checks: dict[str, dict] = Field(description="Each check's details, by name")


class OpenApiReply(Reply):
    openapi: str
    info: dict
    paths: dict


@dataclass
class Runtime:
    """What the server loop needs from a service, beyond its WSGI app."""

    service: str
    warmup: Callable[[], None] | None = None
    reload: Callable[[], None] | None = None
    status: Callable[[], str] | None = None
    checks: dict[str, HealthCheck] = field(default_factory=dict)
    ready: threading.Event = field(default_factory=threading.Event)
    not_ready_reason: str = "starting"
    # Set by serve() to send a STATUS= line to systemd; see status_changed().
    send_status: Callable[[str], None] | None = None

    def run_warmup(self) -> None:
        """Run the warm-up (model load...) once; /health is 503 until it ends."""
        if self.warmup is not None:
            self.not_ready_reason = "warming up"
            self.warmup()
        self.ready.set()

    def status_line(self) -> str:
        if self.status is not None:
            return self.status()
        return "serving" if self.ready.is_set() else self.not_ready_reason

    def status_changed(self) -> None:
        """A service calls this when its status line changes between the watchdog's pings
        (progress of work in the background), so `systemctl status` shows it at once."""
        if self.send_status is not None:
            self.send_status(self.status_line())

    def health(self) -> tuple[int, dict]:
        results = {}
        degraded = False
        for name, check in self.checks.items():
            try:
                ok, details = check()
            except Exception as exc:  # a broken check degrades health, never 500s it
                logging.getLogger("capibara6.health").warning("check %s failed: %s", name, exc)
                ok, details = False, {"status": "error", "error": str(exc)}
            degraded = degraded or not ok
            results[name] = details
        body = {
            "status": "degraded" if degraded else "ok",
            "service": unit_name(self.service),
            "version": capibara6.__version__,
            "checks": results,
        }
        if not self.ready.is_set():
            body["status"] = "starting"
            body["error"] = f"not ready: {self.not_ready_reason}"
            body["code"] = "not_ready"
            return 503, body
        return 200, body


def create_app(settings: CommonSettings, *, blueprints: Iterable = (),
               runtime: Runtime | None = None, health_paths: Iterable[str] = ()) -> Flask:
    app = Flask(f"capibara6.{settings.service}")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False  # Spanish text stays readable in responses
    app.json.sort_keys = False
    runtime = runtime or Runtime(settings.service)
    app.extensions["capibara6"] = runtime
    app.extensions["capibara6.settings"] = settings

    # always_send=False: a request without Origin is not a CORS request and gets no CORS
    # headers (Flask-CORS's default answered it with an allowed origin, one of the list, to
    # anyone who asked; and building them cost ~0.1 ms of every API client's request).
    CORS(app, origins=list(settings.cors_origins), expose_headers=["X-Request-ID"], always_send=False,
         supports_credentials=False)
    _install_request_ids_and_logs(app, settings.service)
    _install_error_handlers(app)
    registry = _install_metrics(app, settings.service)
    app.extensions["capibara6.metrics"] = registry

    @operation("Is the service up, and are its checks (Ollama, the model...) fine?", ok=HealthReply,
               more={503: Answer("Not ready yet (warming up); error and code say why", HealthReply)})
    def health():
        status, body = runtime.health()
        return jsonify(body), status

    for path in ("/health", *health_paths):
        app.add_url_rule(path, endpoint=f"health:{path}", view_func=health, methods=["GET"])

    @operation("This service's OpenAPI 3.1 document", ok=Answer("The document", OpenApiReply))
    def openapi():
        if "capibara6.openapi" not in app.extensions:
            app.extensions["capibara6.openapi"] = openapi_document(app, settings.service)
        return jsonify(app.extensions["capibara6.openapi"])

    app.add_url_rule("/openapi.json", endpoint="openapi", view_func=openapi, methods=["GET"])

    if settings.require_auth:
        from capibara6.kit import auth
        auth.require_token_for(app, settings)

    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app


def runtime_of(app: Flask) -> Runtime:
    return app.extensions["capibara6"]


def _install_request_ids_and_logs(app: Flask, service: str) -> None:
    @app.before_request
    def start_timer():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response: Response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        if response.is_streamed:
            # Every streamed body (SSE, chunked audio) tells a fronting nginx not to buffer it,
            # so pieces reach the client as they are made; one place for all five services.
            response.headers["X-Accel-Buffering"] = "no"
        elapsed_ms = (time.perf_counter() - getattr(g, "started", time.perf_counter())) * 1000
        level = logging.WARNING if response.status_code >= 500 else logging.INFO
        # A stream's line is written when its headers go out; its length is the stream's.
        log.log(level, "%s %s %d %.1fms id=%s", request.method, request.path,
                response.status_code, elapsed_ms, request_id)
        return response


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return jsonify(error.to_dict()), error.status, error.headers

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        status = error.code or 500
        message = error.description or error.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the limit of {limit} bytes"
        body = {"error": message, "code": HTTP_CODES.get(status, "http_error")}
        response = jsonify(body)
        if status == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        logging.getLogger("capibara6.error").exception("unhandled error on %s %s",
                                                        request.method, request.path)
        return jsonify({"error": "internal error; see the service log", "code": "internal_error"}), 500


def _install_metrics(app: Flask, service: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests_total = Counter("capibara6_http_requests_total", "HTTP requests served",
                             ["service", "method", "endpoint", "status"], registry=registry)
    latency = Histogram("capibara6_http_request_seconds", "Time to the response headers",
                        ["service", "endpoint"], registry=registry)

    @app.after_request
    def count(response: Response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        requests_total.labels(service, request.method, endpoint, str(response.status_code)).inc()
        started = getattr(g, "started", None)
        if started is not None:
            latency.labels(service, endpoint).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    @operation("Prometheus metrics", ok=Answer("Metrics in Prometheus' text format",
                                                media_type="text/plain"))
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return registry
