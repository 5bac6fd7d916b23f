"""The app's start page and its installable shell (manifest, service worker, offline page)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from service.web.app.identity import SignedIn, current_member
from service.web.templating import STATIC_DIR, render

router = APIRouter(prefix="/app", include_in_schema=False)


@router.get("")
def home(who: SignedIn = Depends(current_member)) -> Response:
    return RedirectResponse("/app/offers", status_code=303)


@router.get("/offline")
def offline(request: Request) -> Response:
    return render(request, "app/offline.html", {"who": None})


@router.get("/sw.js")
def service_worker() -> Response:
    # Served from /app so its scope is the whole app.
    return FileResponse(
        STATIC_DIR / "app" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/app"},
    )


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> Response:
    fmt_name = "Cashback"
    return JSONResponse(
        {
            "name": fmt_name,
            "short_name": fmt_name,
            "start_url": "/app",
            "scope": "/app",
            "display": "standalone",
            "background_color": "#f4f6f8",
            "theme_color": "#0b5cad",
            "icons": [
                {"src": "/static/app/icon-192.png", "sizes": "192x192", "type": "image/png"},
                {"src": "/static/app/icon-512.png", "sizes": "512x512", "type": "image/png"},
                {
                    "src": "/static/app/icon-maskable-512.png",
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "maskable",
                },
            ],
        },
        media_type="application/manifest+json",
    )
