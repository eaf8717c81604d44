"""One place that turns every error into the contract's error body: JSON, an htmx toast, or a page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from booking.errors import (
    Conflict,
    DomainError,
    InvalidRequest,
    NotFound,
    NotPermitted,
    QuotaExceeded,
    TooManyAttempts,
    Unauthenticated,
    Unavailable,
)
from booking.messages import Message, message
from web.headers import SECURITY_HEADERS
from web.i18n import accept_language, normalise, say, translations

log = logging.getLogger(__name__)

STATUS: dict[type[DomainError], int] = {
    NotFound: 404,
    Conflict: 409,
    QuotaExceeded: 403,
    NotPermitted: 403,
    InvalidRequest: 422,
    Unauthenticated: 401,
    TooManyAttempts: 429,
    Unavailable: 503,
}
HTTP_KINDS = {
    400: "InvalidRequest",
    401: "Unauthenticated",
    403: "NotPermitted",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "InvalidRequest",
    415: "InvalidRequest",
    422: "InvalidRequest",
    429: "TooManyAttempts",
    503: "Unavailable",
}


# The heading of an error page, by kind: a person reads words, never an exception's name.
HEADINGS = {
    "NotFound": "Not found",
    "Conflict": "This is already taken",
    "QuotaExceeded": "Beyond your plan's limits",
    "NotPermitted": "Not allowed",
    "InvalidRequest": "Please check what you entered",
    "Unauthenticated": "Please sign in",
    "TooManyAttempts": "Too many attempts",
    "Unavailable": "Please try again in a moment",
}


MIB = 1024 * 1024


class BodyTooLarge(Exception):
    """The request's body grew past its limit while it was read (web/guard.py counts it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


class BodyTooSlow(Exception):
    """The request's body stopped arriving (web/guard.py times it)."""


def body_refusal(exc: BaseException | None) -> tuple[int, Message] | None:
    """The status and sentence for a body refused by the guard, however deep a framework wrapped it."""
    while exc is not None:
        if isinstance(exc, BodyTooLarge):
            return 413, message("the request is too large: at most {most} MiB", most=max(1, exc.limit // MIB))
        if isinstance(exc, BodyTooSlow):
            return 408, message("the request's body stopped arriving; send it again")
        exc = exc.__cause__ or exc.__context__
    return None


def status_of(exc: DomainError) -> int:
    """The HTTP status for a domain error (its nearest mapped ancestor's)."""
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 400


def error_language(request: Request) -> str:
    """The language an error is told in: the API's is English unless `Accept-Language` asks for
    Vietnamese; a page's is the signed-in member's, else the browser's choice, else Vietnamese."""
    if request.url.path.startswith("/api/"):
        return accept_language(request.headers.get("accept-language"))
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        return normalise(actor.member.language)
    session = request.scope.get("session") or {}
    return normalise(session.get("lang"))


def render_error(
    request: Request, status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> Response:
    """The error as JSON for the API, a toast fragment for htmx, a small page for a browser."""
    if request.headers.get("HX-Request") == "true":
        from markupsafe import escape

        body = f'<div class="toast toast-error" role="alert">{escape(detail)}</div>'
        # htmx swaps no 4xx body by default; the retarget headers put the toast where it belongs.
        hx_headers = {
            **SECURITY_HEADERS,
            "HX-Retarget": "#toasts",
            "HX-Reswap": "beforeend",
            **(headers or {}),
        }
        return HTMLResponse(body, status_code=status, headers=hx_headers)
    path = request.url.path
    if path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)
    from markupsafe import escape

    language = error_language(request)
    gettext = translations(language).gettext
    heading = gettext(HEADINGS.get(kind, "Something went wrong"))
    page = (
        f"<!doctype html><html lang={language}><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{escape(heading)} · FabLab Hub</title>"
        "<link rel=stylesheet href='/static/app.css'>"
        f"<main class=error-page><h1>{escape(heading)}</h1><p>{escape(detail)}</p>"
        f"<p><a href='/'>{escape(gettext('Back to FabLab Hub'))}</a></p></main>"
    )
    return HTMLResponse(page, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def _went_wrong(request: Request) -> str:
    return say(message("something went wrong on our side; it was logged"), error_language(request))


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        location = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        if error.get("type") == "json_invalid":
            parts.append("the body is not valid JSON")
        elif error.get("type") == "missing":
            parts.append(f"{location} is required")
        elif error.get("type") == "extra_forbidden":
            parts.append(f"{location} is not a field this request takes")
        else:
            parts.append(f"{location}: {message[0].lower()}{message[1:]}" if location else message)
    return "; ".join(parts) or "the request is not valid"


def install(app: FastAPI) -> None:
    """Register the handlers on the app."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        if isinstance(exc, Unavailable):
            headers = {"Retry-After": "1"}
        detail = say(exc.message, error_language(request))
        return render_error(request, status_of(exc), exc.kind, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return render_error(request, 422, "InvalidRequest", _validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI turns anything raised while it reads a body into a 400: the guard's refusals
        # keep their own status and sentence.
        refused = body_refusal(exc.__cause__)
        if refused is not None:
            status, sentence = refused
            return render_error(
                request,
                status,
                "InvalidRequest",
                say(sentence, error_language(request)),
                {"Connection": "close"},
            )
        kind = HTTP_KINDS.get(exc.status_code, "Error")
        detail = str(exc.detail)
        language = error_language(request)
        if exc.status_code == 404 and detail == "Not Found":
            detail = say(message("there is nothing at {path}", path=request.url.path), language)
        elif exc.status_code == 405:
            detail = say(
                message("{method} is not allowed on {path}", method=request.method, path=request.url.path),
                language,
            )
        headers: dict[str, Any] | None = getattr(exc, "headers", None)
        return render_error(request, exc.status_code, kind, detail, headers)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> Response:
        log.error("database unavailable: %s", exc.orig)
        return render_error(
            request,
            503,
            "Unavailable",
            say(
                message("the database is not reachable right now; try again shortly"), error_language(request)
            ),
            {"Retry-After": "1"},
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        log.exception("database error on %s %s", request.method, request.url.path)
        return render_error(request, 500, "InternalError", _went_wrong(request))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        refused = body_refusal(exc)
        if refused is not None:
            status, sentence = refused
            return render_error(request, status, "InvalidRequest", say(sentence, error_language(request)))
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render_error(request, 500, "InternalError", _went_wrong(request))
