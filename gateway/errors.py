"""Every error leaves the API as JSON `{code, message}` with a 4xx (or 5xx) status."""

from __future__ import annotations

import logging
import math

import psycopg
import psycopg_pool
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from gateway.quotas import Refused

log = logging.getLogger("stride.gateway")

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid",
          429: "too_many_requests", 503: "unavailable"}


class ApiError(HTTPException):
    """An error with a machine-readable code: `raise ApiError(404, "not_found", "…")`."""

    def __init__(self, status_code: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def refused(exc: Refused) -> ApiError:
    """A quota's refusal as an answer: 429 with the code, and Retry-After when waiting helps."""
    headers = ({"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
               if exc.retry_after_s is not None else None)
    return ApiError(429, exc.code, exc.message, headers=headers)


def busy() -> ApiError:
    return ApiError(503, "busy", "too many password checks at once; try again in a second",
                    headers={"Retry-After": "1"})


def _body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def http_error(request: Request, exc: HTTPException) -> Response[dict[str, str]]:
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
    message = str(exc.detail)
    if isinstance(exc, ValidationException) and exc.extra:
        message = f"{exc.detail}: {exc.extra}"
        code = "invalid"
    return Response(_body(code, message), status_code=exc.status_code, headers=exc.headers)


def unexpected_error(request: Request, exc: Exception) -> Response[dict[str, str]]:
    if isinstance(exc, UNAVAILABLE):  # Redis or PostgreSQL away: the client may try again
        log.warning("%s %s: a backing service is unavailable: %r", request.method,
                    request.url.path, exc)
        return Response(_body("unavailable", "a backing service is unavailable; try again shortly"),
                        status_code=503, headers={"Retry-After": "5"})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(_body("internal", "internal error; see the gateway log"),
                    status_code=HTTP_500_INTERNAL_SERVER_ERROR)


UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
               psycopg.OperationalError, psycopg_pool.PoolTimeout)
EXCEPTION_HANDLERS = {HTTPException: http_error, Exception: unexpected_error}
