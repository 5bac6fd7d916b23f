"""Jinja2 rendering shared by every front end: one environment, the shared layout, and a
context with the reader's language, the CSRF token and the provider script addresses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape

from service.web import csrf
from service.web.i18n import LANGUAGES, Formatter

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"


def _loader() -> ChoiceLoader:
    # The shared layout lives in web/templates; each front end keeps its pages in
    # web/<front end>/templates and names them "<front end>/page.html".
    front_ends = {
        path.parent.name: FileSystemLoader(str(path))
        for path in sorted(WEB_DIR.glob("*/templates"))
    }
    return ChoiceLoader([FileSystemLoader(str(WEB_DIR / "templates")), PrefixLoader(front_ends)])


environment = Environment(
    loader=_loader(),
    autoescape=select_autoescape(["html", "xml"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def static_url(path: str) -> str:
    """Static files are served with a version in the query so caches follow deploys."""
    return f"/static/{path}?v={_version(path)}"


def _version(path: str) -> str:
    target = STATIC_DIR / path
    try:
        return str(int(target.stat().st_mtime))
    except OSError:
        return "0"


environment.globals["static_url"] = static_url
environment.globals["LANGUAGES"] = LANGUAGES


def formatter_of(request: Request) -> Formatter:
    found = getattr(request.state, "formatter", None)
    if found is None:
        found = Formatter(getattr(request.state, "language", "en"))
        request.state.formatter = found
    return found


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    fmt = formatter_of(request)
    values = {
        "request": request,
        "fmt": fmt,
        "_": fmt.gettext,
        "ngettext": fmt.ngettext,
        "lang": fmt.language,
        "csrf_token": csrf.token_for(request),
        "csrf_field": csrf.FIELD,
        "settings": request.app.state.settings,
        **(context or {}),
    }
    html = environment.get_template(template).render(values)
    return HTMLResponse(html, status_code=status)
