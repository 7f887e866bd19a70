"""Errors of the HTTP API in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

The official clients map the status code to an exception class (400 BadRequestError, 401
AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 413 / 422 APIStatusError,
429 RateLimitError, 5xx InternalServerError) and show `message`, so each message is one line
naming the input, what was wrong and what is expected, like every longva error.
"""

from __future__ import annotations

from http import HTTPStatus

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    499: "invalid_request_error",
    500: "server_error",
    503: "server_error",
}


class APIError(Exception):
    """An error answered with `status` and OpenAI's error JSON."""

    def __init__(
        self, status: int, message: str, code: str | None = None, param: str | None = None
    ):
        super().__init__(" ".join(str(message).split()))
        self.status, self.code, self.param = status, code, param

    def body(self) -> dict:
        return error_body(self.status, str(self), self.code, self.param)


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict:
    kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class QueueFull(APIError):
    def __init__(self, limit: int):
        super().__init__(
            429,
            f"the server is busy: 1 generation running and {limit} waiting, the most it queues;"
            " retry later",
            code="queue_full",
        )


class Cancelled(Exception):
    """Raised inside the worker when the client went away or the user pressed stop."""
