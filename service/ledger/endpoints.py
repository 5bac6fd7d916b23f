"""The ledger, visible to finance and admins: accounts with their balances, an account's
entries with every posting, and a card event found by the feed's own id."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Query
from sqlmodel import Session

from service.auth import Principal, Role, db_session, require
from service.ledger import repository as repo
from service.ledger.schemas import CardEventOut, LedgerAccountOut, LedgerEntryOut, PostingOut
from service.merchants.common import MAX_BIG_ID, Id, Page, PageParams, page_of, page_params
from service.openapi_problems import problem_response
from service.problems import NotFound
from service.routing import make_router
from settlement.ledger.accounts import AccountKind

router = make_router(tags=["ledger"])
finance = require(Role.FINANCE)
OwnerType = Literal["member", "merchant", "platform", "charity"]
ENTRY_PAGE_MAX = 200


@router.get("/ledger/accounts", summary="Ledger accounts with posted and pending balances")
def list_accounts(
    page: PageParams = Depends(page_params),
    owner_type: OwnerType | None = None,
    owner_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: AccountKind | None = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    session: Session = db_session,
    _p: Principal = Depends(finance),
) -> Page[LedgerAccountOut]:
    rows = repo.list_accounts(
        session,
        after_id=page.after_id,
        limit=page.limit + 1,
        owner_type=owner_type,
        owner_id=owner_id,
        kind=kind,
        currency=currency,
    )
    return page_of(list(rows), page.limit, lambda r: LedgerAccountOut.model_validate(r._mapping))


@router.get(
    "/ledger/accounts/{account_id}/entries",
    summary="An account's entries, oldest first, each with all its postings",
)
def list_entries(
    account_id: Id,
    limit: Annotated[int, Query(ge=1, le=ENTRY_PAGE_MAX)] = 50,
    after_id: Annotated[int, Query(ge=0, le=MAX_BIG_ID)] = 0,
    session: Session = db_session,
    _p: Principal = Depends(finance),
) -> Page[LedgerEntryOut]:
    if repo.get_account(session, account_id) is None:
        raise NotFound(f"ledger account {account_id} not found", field="account_id")
    ids = repo.entry_ids_of_account(session, account_id, after_id=after_id, limit=limit + 1)
    shown = ids[:limit]
    postings: dict[int, list[PostingOut]] = {n: [] for n in shown}
    for row in repo.postings_of(session, shown):
        postings[row.entry_id].append(
            PostingOut(
                account_id=row.account_id,
                account_code=row.code,
                amount=row.amount,
                currency=row.currency,
            )
        )
    entries = [
        LedgerEntryOut(
            **{k: v for k, v in row._mapping.items() if k in LedgerEntryOut.model_fields},
            status=row.resolution or row.initial_status,
            postings=postings[row.id],
        )
        for row in repo.entries_with_status(session, shown)
    ]
    return Page(items=entries, next_cursor=shown[-1] if len(ids) > limit else None)


@router.get(
    "/card-events",
    summary="A card event found by the feed's own id",
    responses={404: problem_response("No event of that source has that external id")},
)
def find_card_event(
    external_id: Annotated[str, Query(min_length=1, max_length=128)],
    source: Literal["network", "plaid", "file"],
    session: Session = db_session,
    _p: Principal = Depends(finance),
) -> CardEventOut:
    row = repo.card_event_by_external_id(session, source, external_id)
    if row is None:
        raise NotFound(f"no {source} card event {external_id!r}", field="external_id")
    return CardEventOut.model_validate(row._mapping)
