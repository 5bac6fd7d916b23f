"""Web front ends, server-rendered with Jinja2 and htmx, on the same services as the API.

One sub-package per audience (`app` for members; `merchant` and `finance` beside it), each
with its own router and templates; they share what is here: the layout, static files
(front-end libraries vendored from npm with their licences), cookie sessions, CSRF, password
hashing, sign-in rate limits, languages, and problem documents shown as field errors.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.types import ASGIApp, Receive, Scope, Send

from service.problems import Problem
from service.web import csrf
from service.web.headers import security_headers
from service.web.i18n import LANGUAGE_COOKIE, N_, negotiate, supported
from service.web.ratelimit import SignInLimiter
from service.web.templating import STATIC_DIR, render


@dataclass(frozen=True)
class FrontEnd:
    path: str  # "/app"
    title: str
    module: str  # the sub-package whose `routes.router` serves it


# Each front end registers here; the home page links to every one.
FRONT_ENDS: list[FrontEnd] = [
    FrontEnd("/app", N_("Member app"), "service.web.app"),
    FrontEnd("/merchant", N_("Merchant portal"), "service.web.merchant"),
    FrontEnd("/finance", N_("Finance console"), "service.web.finance"),
]


MAX_FORM_BYTES = 100_000
# Problem titles shown on error pages (marked for the catalogs).
ERROR_TITLES = (N_("Forbidden"), N_("Not found"), N_("Unauthorized"), N_("Conflict"))


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in user: back to sign-in, then to `next_path`."""

    def __init__(self, sign_in_path: str, next_path: str) -> None:
        super().__init__(sign_in_path)
        self.sign_in_path = sign_in_path
        self.next_path = next_path


def is_web_path(path: str) -> bool:
    return (
        path == "/"
        or any(path == fe.path or path.startswith(fe.path + "/") for fe in FRONT_ENDS)
        or path.startswith("/static/")
    )


def _wants_html(request: Request) -> bool:
    return is_web_path(request.url.path) and not request.url.path.startswith("/static/")


class WebContext(BaseHTTPMiddleware):
    """The pages' language, security headers and CSRF cookie. The API goes straight through:
    Starlette's request-and-response middleware copies every body through a stream, which cost
    a webhook batch's answer about a millisecond."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        super().__init__(app)
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_web_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            # Forms are small; refuse a large body before anything parses it.
            return Response("request body too large", status_code=413)
        request.state.language = supported(request.cookies.get(LANGUAGE_COOKIE)) or negotiate(
            request.headers.get("accept-language")
        )
        response = await call_next(request)
        for name, value in self.headers.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
            csrf.write_cookie(request, response)
        return response


def mount_web(app: FastAPI) -> None:
    settings = app.state.settings
    if not settings.web_secret_key:
        raise RuntimeError(
            "CLO_WEB_SECRET_KEY is required to serve the web front ends outside development "
            "(`clo secrets generate` prints one)"
        )
    app.state.sign_in_limiter = SignInLimiter.from_settings(settings)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(WebContext, headers=security_headers(settings))

    _install_html_errors(app)
    for front_end in FRONT_ENDS:
        module = importlib.import_module(f"{front_end.module}.routes")
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        return render(request, "home.html", {"front_ends": FRONT_ENDS})


async def _respond(
    handler: Callable[[Request, Exception], Response | Awaitable[Response]],
    request: Request,
    exc: Exception,
) -> Response:
    """Call an exception handler as Starlette types them: plain or async."""
    result = handler(request, exc)
    return result if isinstance(result, Response) else await result


def _install_html_errors(app: FastAPI) -> None:
    """Web pages get HTML error pages; the API keeps its problem documents."""
    api_problem = app.exception_handlers[Problem]
    api_validation = app.exception_handlers[RequestValidationError]
    api_http = app.exception_handlers[StarletteHTTPException]

    def page(request: Request, status: int, title: str, detail: str) -> Response:
        response = render(
            request, "error.html", {"status": status, "title": title, "detail": detail}, status
        )
        if status == 401:
            response.headers["WWW-Authenticate"] = "Cookie"
        return response

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        from urllib.parse import quote

        target = f"{exc.sign_in_path}?next={quote(exc.next_path, safe='/')}"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if not _wants_html(request):
            return await _respond(api_problem, request, exc)
        return page(request, exc.status, exc.title, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        if not _wants_html(request):
            return await _respond(api_validation, request, exc)
        return page(request, 404, "Not found", "This page does not exist.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not _wants_html(request):
            return await _respond(api_http, request, exc)
        title = N_("Not found") if exc.status_code == 404 else str(exc.detail)
        return page(request, exc.status_code, title, N_("This page does not exist."))
