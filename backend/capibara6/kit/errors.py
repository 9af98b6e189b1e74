"""One error shape for every service: {"error": "<message>", "code": "<code>"}.

Raise ApiError from anywhere in a request; the app factory turns it, and any
HTTP error Flask raises, into JSON with a true status. Unexpected exceptions
become a 500 whose body says nothing about the code; the traceback goes to
the log only.
"""

from __future__ import annotations


class ApiError(Exception):
    status = 500
    code = "internal_error"
    headers: dict[str, str] = {}   # sent with the error response

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, **extra):
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})  # e.g. a 429's Retry-After
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.extra = extra

    def to_dict(self) -> dict:
        body = {"error": self.message, "code": self.code}
        body.update(self.extra)
        return body


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UpstreamUnavailable(ApiError):
    status = 502
    code = "upstream_unavailable"


class UpstreamError(ApiError):
    status = 502
    code = "upstream_error"


class NotReady(ApiError):
    status = 503
    code = "not_ready"


class Busy(ApiError):
    """Too much is in flight to take this request now; Retry-After says when to come back."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, retry_after: int, **extra):
        super().__init__(message, **extra)
        self.headers = {"Retry-After": str(retry_after)}


class UpstreamTimeout(ApiError):
    status = 504
    code = "upstream_timeout"


# Machine codes for the HTTP errors werkzeug raises by itself.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "not_ready",
}
