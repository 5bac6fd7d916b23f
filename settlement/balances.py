"""What a member sees of their money, read from cached ledger balances."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from settlement.ledger.accounts import AccountKind, account_code
from settlement.rewards import RewardState
from settlement.tables import LedgerAccount, Reward

_a = LedgerAccount.__table__
_r = Reward.__table__


@dataclass(frozen=True, slots=True)
class MemberBalance:
    currency: str
    pending_amount: int  # earned, not matured (includes purchases not yet cleared)
    available_amount: int  # matured, can be withdrawn or donated
    recovery_amount: int  # clawback shortfall the member owes, offset from future cashback
    lifetime_amount: int  # everything earned on cleared purchases, net of clawbacks


def member_balances(conn: Connection, member_id: int) -> list[MemberBalance]:
    codes: dict[str, dict[AccountKind, tuple[int, int]]] = {}
    rows = conn.execute(
        select(_a.c.kind, _a.c.currency, _a.c.posted_amount, _a.c.pending_amount).where(
            _a.c.owner_type == "member", _a.c.owner_id == member_id
        )
    )
    for kind, currency, posted, pending in rows:
        codes.setdefault(currency, {})[AccountKind(kind)] = (posted, pending)
    lifetime = dict(
        conn.execute(
            select(_r.c.currency, func.sum(_r.c.reward_amount - _r.c.clawed_reward_amount))
            .where(
                _r.c.member_id == member_id,
                _r.c.state.in_([RewardState.CLEARED.value, RewardState.MATURED.value]),
            )
            .group_by(_r.c.currency)
        ).all()
    )
    out = []
    for currency in sorted(set(codes) | set(lifetime)):
        acc = codes.get(currency, {})
        pending = sum(acc.get(AccountKind.MEMBER_PENDING, (0, 0)))
        available = acc.get(AccountKind.MEMBER_AVAILABLE, (0, 0))[0]
        recovery = -acc.get(AccountKind.MEMBER_RECOVERY, (0, 0))[0]
        out.append(
            MemberBalance(currency, pending, available, recovery, int(lifetime.get(currency) or 0))
        )
    return out


def member_account_code(member_id: int, currency: str, kind: AccountKind) -> str:
    return account_code(kind, member_id, currency)
