"""/healthz, /readyz and /metrics: what a load balancer and Prometheus ask.

- /healthz: the process answers (no database touched). A failure means restart it.
- /readyz: the process can serve: the database answers, its schema is at the newest
  migration and the offer catalog is loaded. A failure (503 with a problem document naming
  each check that failed) means send it no traffic yet.
- /metrics: Prometheus exposition, for admin credentials only.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from service.auth import Principal, Role, require
from service.observability import metrics
from service.problems import problem_response

log = logging.getLogger("clo.health")
router = APIRouter(include_in_schema=False)
_catalog_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class NotReady:
    field: str  # database | migrations | offer_catalog
    reason: str
    detail: str


def newest_revision() -> str:
    from service.cli_database import newest_revision as head

    return head()


def readiness(app: FastAPI) -> list[NotReady]:
    """What keeps the app from serving; empty when it is ready."""
    engine: Engine = app.state.engine
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = "no_schema" if "alembic_version" in str(orig or exc) else "unreachable"
        first_line = str(orig or exc).splitlines()[0][:200] if str(orig or exc) else ""
        return [NotReady("database", reason, f"the database cannot be read: {first_line}")]
    head = newest_revision()
    if current != head:
        return [
            NotReady(
                "migrations",
                "not_at_head",
                f"the schema is at revision {current}, not the newest ({head})",
            )
        ]
    if not catalog_loaded(app):
        return [NotReady("offer_catalog", "not_loaded", "the offer catalog could not be loaded")]
    return []


def catalog_loaded(app: FastAPI) -> bool:
    """Whether the pipeline's offer catalog is in memory; loads it once if not."""
    catalog = app.state.pipeline.catalog
    if catalog.loaded:
        return True
    with _catalog_lock:
        if not catalog.loaded:
            try:
                with app.state.engine.connect() as conn:
                    catalog.current(conn)
            except SQLAlchemyError:
                log.warning("offer catalog not loaded", exc_info=True)
                return False
    return bool(catalog.loaded)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    failing = readiness(request.app)
    if not failing:
        return Response('{"status":"ready"}', media_type="application/json")
    return problem_response(
        503,
        "Not ready",
        "; ".join(f.detail for f in failing),
        "not-ready",
        [{"field": f.field, "reason": f.reason} for f in failing],
        headers={"Retry-After": "5"},
    )


@router.get("/metrics")
def prometheus_metrics(_admin: Principal = Depends(require(Role.ADMIN))) -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
