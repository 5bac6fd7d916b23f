"""Settlements: runs, statements, approval and CSV for finance; Stripe webhooks; member
payout accounts and donations; charities."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response, status
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.integrations.stripe_webhooks import (
    HEADER,
    check_api_version,
    handle_event,
    pinned_api_version,
    verified_event,
)
from service.merchants.common import (
    IDEMPOTENCY_KEY_PATTERN,
    Id,
    Page,
    PageParams,
    page_of,
    page_params,
)
from service.openapi_problems import REPEATED_200
from service.problems import Problem
from service.routing import make_router
from service.settlements import service
from service.settlements.schemas import (
    CharityIn,
    CharityOut,
    DecisionIn,
    DonationIn,
    DonationOut,
    PayoutAccountIn,
    PayoutAccountOut,
    RejectIn,
    RunDetail,
    RunOut,
    StatementOut,
    WebhookResult,
)
from settlement.runs.approval import Decision

router = make_router(tags=["settlements"])
finance = require(Role.FINANCE)
member_side = require(Role.MEMBER, Role.PUBLISHER)
anyone = require(Role.MEMBER, Role.PUBLISHER, Role.FINANCE, Role.MERCHANT)
IdempotencyKey = Annotated[
    str,
    Header(alias="Idempotency-Key", min_length=1, max_length=64, pattern=IDEMPOTENCY_KEY_PATTERN),
]


@router.get("/settlements/runs", summary="Settlement runs, oldest first")
def list_runs(
    page: PageParams = Depends(page_params),
    run_status: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    session: Session = db_session,
    _p: Principal = Depends(finance),
) -> Page[RunOut]:
    rows = service.repo.list_runs(
        session, after_id=page.after_id, limit=page.limit + 1, status=run_status
    )
    return page_of(rows, page.limit, service.run_out)


@router.get("/settlements/runs/{run_id}", summary="A run with its steps and decisions")
def get_run(run_id: Id, session: Session = db_session, _p=Depends(finance)) -> RunDetail:
    return service.run_detail(session, run_id)


@router.get("/settlements/runs/{run_id}/statements", summary="Statements per merchant and offer")
def get_statements(
    run_id: Id, session: Session = db_session, _p=Depends(finance)
) -> list[StatementOut]:
    return service.statements(session, run_id)


@router.get(
    "/settlements/runs/{run_id}/statements.csv",
    summary="Statement lines as CSV",
    response_class=Response,
)
def get_statements_csv(run_id: Id, session: Session = db_session, _p=Depends(finance)) -> Response:
    body = service.statements_csv(session, run_id)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="settlement-{run_id}.csv"'},
    )


@router.get("/settlements/runs/{run_id}/report", summary="The run's attribution report")
def get_report(run_id: Id, session: Session = db_session, _p=Depends(finance)) -> dict:
    return service.report(session, run_id)


@router.post("/settlements/runs/{run_id}/approve", summary="Approve a run: money may move")
def approve(
    run_id: Id, body: DecisionIn, session: Session = db_session, p=Depends(finance)
) -> RunDetail:
    now = datetime.now(UTC)
    return service.take_decision(session, p, run_id, Decision.APPROVED, body.reason, now=now)


@router.post("/settlements/runs/{run_id}/reject", summary="Reject a run (a reason is required)")
def reject(
    run_id: Id, body: RejectIn, session: Session = db_session, p=Depends(finance)
) -> RunDetail:
    now = datetime.now(UTC)
    return service.take_decision(session, p, run_id, Decision.REJECTED, body.reason, now=now)


@router.post(
    "/settlements/runs/{run_id}/reopen",
    summary="Settle a rejected run's period again, as its next attempt (a reason is required)",
    status_code=status.HTTP_201_CREATED,
)
def reopen(
    run_id: Id, body: RejectIn, session: Session = db_session, p=Depends(finance)
) -> RunDetail:
    return service.reopen(session, p, run_id, body.reason, now=datetime.now(UTC))


@router.post("/webhooks/stripe", summary="Stripe events (signed); duplicates are harmless")
async def stripe_webhook(request: Request) -> WebhookResult:
    settings = request.app.state.settings
    if not settings.stripe_webhook_secret:
        raise Problem("Stripe webhooks are not configured", status=503, reason="not_configured")
    payload = await request.body()
    address = request.client.host if request.client else ""
    with request.app.state.auth_limiter.counting_failures(address=address):
        event = verified_event(
            payload,
            request.headers.get(HEADER),
            settings.stripe_webhook_secret,
            tolerance_seconds=settings.stripe_webhook_tolerance_seconds,
        )
    check_api_version(event, pinned_api_version(settings))
    with Session(request.app.state.engine) as session:
        result = handle_event(session.connection(), event, datetime.now(UTC), settings)
        session.commit()
    return WebhookResult(received=True, result=result)


@router.put("/members/{member_id}/payout-account", summary="Where the member's payouts go")
def put_payout_account(
    member_id: Id,
    body: PayoutAccountIn,
    session: Session = db_session,
    p: Principal = Depends(member_side),
) -> PayoutAccountOut:
    now = datetime.now(UTC)
    return service.set_payout_account(session, p, member_id, body, now=now)


@router.post(
    "/members/{member_id}/donations",
    status_code=status.HTTP_201_CREATED,
    responses=REPEATED_200,
    summary="Donate available cashback to a charity (Idempotency-Key required)",
)
def post_donation(
    member_id: Id,
    body: DonationIn,
    idempotency_key: IdempotencyKey,
    response: Response,
    session: Session = db_session,
    p: Principal = Depends(member_side),
) -> DonationOut:
    now = datetime.now(UTC)
    out, created = service.make_donation(session, p, member_id, body, idempotency_key, now=now)
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


@router.post("/charities", status_code=status.HTTP_201_CREATED, summary="Add a charity (admin)")
def post_charity(
    body: CharityIn, session: Session = db_session, _p=Depends(require())
) -> CharityOut:
    return service.create_charity(session, body, now=datetime.now(UTC))


@router.get("/charities", summary="Charities members may donate to")
def get_charities(
    page: PageParams = Depends(page_params), session: Session = db_session, _p=Depends(anyone)
) -> Page[CharityOut]:
    rows = service.list_charities(session, after_id=page.after_id, limit=page.limit + 1)
    return page_of(rows, page.limit, lambda c: CharityOut(id=c.id, name=c.name))
