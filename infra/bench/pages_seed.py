"""The seeded history of `clo bench pages`: a feed's worth of card events already matched,
with the rewards, ledger entries, postings and cached balances the feed would have written,
streamed into the database (COPY on PostgreSQL, executemany on SQLite) chunk by chunk."""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, insert, select

from infra.bench.replay import BENCH_NOW
from matching.offers import in_holdout
from service.db import normalize_url
from service.progress import tracked
from service.synthetic import seed_world
from service.tables import Card, CardEventRow, Member, Offer
from settlement.tables import LedgerAccount, LedgerEntry, LedgerPosting, Reward

HISTORY_DAYS = 60  # events spread evenly over the days before BENCH_NOW
OFFER_MERCHANT_SHARE = 0.6  # of purchases at a merchant with offers (the rest have none)
REFUND_SHARE = 0.03  # of rewarded clearings, refunded in part a few days later
CHUNK_ROWS = 20_000  # rows per executemany on SQLite, per COPY write on PostgreSQL


# -- the synthetic history ---------------------------------------------------------------------
@dataclass(frozen=True)
class _OfferFacts:
    id: int
    merchant_id: int
    reward_type: str
    rate_bps: int
    reward_amount: int
    max_reward_amount: int | None
    commission_bps: int
    commission_base: str
    hold_days: int
    holdout_bps: int
    budget_amount: int | None


# fmt: off
@dataclass
class _Accounts:
    """Ledger account ids and cached totals: platform revenue, one receivable per merchant,
    and a pending and an available account per member, ids by arithmetic so that a million
    members need no look-up table."""

    merchants: int
    members: int

    def __post_init__(self) -> None:
        self.posted = [0] * (self.member_base + 2 * self.members)

    revenue = 1

    def receivable(self, merchant_id: int) -> int:
        return 1 + merchant_id

    @property
    def member_base(self) -> int:
        return 2 + self.merchants

    def pending(self, member_id: int) -> int:
        return self.member_base + 2 * (member_id - 1)

    def available(self, member_id: int) -> int:
        return self.pending(member_id) + 1

    def rows(self) -> Iterator[tuple]:
        yield (self.revenue, "platform:revenue:USD", "USD", "platform_revenue", "platform", None,
               False, self.posted[self.revenue], 0)
        for m in range(1, self.merchants + 1):
            account = self.receivable(m)
            yield (account, f"merchant:{m}:receivable:USD", "USD", "merchant_receivable",
                   "merchant", m, True, self.posted[account], 0)
        for member in range(1, self.members + 1):
            for account, kind in (
                (self.pending(member), "pending"),
                (self.available(member), "available"),
            ):
                yield (account, f"member:{member}:{kind}:USD", "USD", f"member_{kind}", "member",
                       member, False, self.posted[account], 0)


_ACCOUNT_COLUMNS = ("id", "code", "currency", "kind", "owner_type", "owner_id", "allow_negative",
                    "posted_amount", "pending_amount")
_EVENT_COLUMNS = ("id", "source", "external_id", "kind", "card_id", "member_id", "merchant_id",
                  "amount", "currency", "occurred_at", "mid", "acquirer_id", "descriptor",
                  "merchant_name", "mcc", "country", "postal_code", "channel",
                  "original_external_id", "linked_event_id", "outcome", "reason", "reward_id",
                  "decisions_json", "ingested_at")
_REWARD_COLUMNS = ("id", "member_id", "offer_id", "merchant_id", "currency", "state",
                   "clearing_event_id", "spend_amount", "reward_amount", "commission_amount",
                   "refunded_spend_amount", "clawed_reward_amount", "clawed_commission_amount",
                   "occurred_at", "hold_days", "hold_until", "cleared_at", "matured_at",
                   "available_reward_amount", "booked_at", "clawback_refund_count",
                   "clawback_refund_amount")
_ENTRY_COLUMNS = ("id", "idempotency_key", "content_sha256", "kind", "initial_status", "currency",
                  "event_id", "offer_id", "merchant_id", "member_id", "reward_id", "effective_at",
                  "created_at", "memo")
_POSTING_COLUMNS = ("id", "entry_id", "account_id", "amount", "currency")
_MEMBER_COLUMNS = ("id", "external_ref", "display_name", "email", "tier", "birth_month",
                   "created_at")
_CARD_COLUMNS = ("id", "member_id", "provider", "provider_token", "fingerprint", "brand", "last4",
                 "exp_month", "exp_year", "status", "created_at")


def _reward_of(offer: _OfferFacts, spend: int) -> tuple[int, int]:
    """(reward, commission) in minor units; integer arithmetic, rounded down."""
    if offer.reward_type == "percent":
        reward = spend * offer.rate_bps // 10_000
        if offer.max_reward_amount is not None:
            reward = min(reward, offer.max_reward_amount)
    else:
        reward = offer.reward_amount
    if offer.commission_base == "spend":
        commission = spend * offer.commission_bps // 10_000
    else:
        commission = reward * offer.commission_bps // (10_000 - offer.commission_bps)
    return reward, commission


class _History:
    """Streams the rows of every big table, in id order, from one seeded random source."""

    def __init__(
        self, *, seed: int, events: int, members: int, merchants: int, offers: list[_OfferFacts]
    ) -> None:
        self.rng = random.Random(seed)
        self.events, self.members, self.merchants = events, members, merchants
        self.offer_merchants = max(1, merchants // 2)  # as seed_world: the first half
        self.by_merchant: dict[int, list[_OfferFacts]] = {}
        for o in offers:
            self.by_merchant.setdefault(o.merchant_id, []).append(o)
        self.budget_left = {o.id: o.budget_amount for o in offers}
        self.accounts = _Accounts(merchants, members)
        self.event_id = self.reward_id = self.entry_id = self.posting_id = 0
        self.rows: dict[str, list[tuple]] = {"event": [], "reward": [], "entry": [], "posting": []}

    def _entry(self, kind: str, key: str, reward: tuple, event_id: int, at: datetime) -> int:
        self.entry_id += 1
        reward_id, member_id, offer_id, merchant_id = reward[0], reward[1], reward[2], reward[3]
        self.rows["entry"].append(
            (self.entry_id, f"reward:{reward_id}:{key}", "0" * 64, kind, "posted", "USD",
             event_id, offer_id, merchant_id, member_id, reward_id, at, at, "")
        )
        return self.entry_id

    def _post(self, entry_id: int, *legs: tuple[int, int]) -> None:
        assert sum(amount for _, amount in legs) == 0, "an entry's postings sum to zero"
        for account_id, amount in legs:
            if amount:
                self.posting_id += 1
                self.rows["posting"].append((self.posting_id, entry_id, account_id, amount, "USD"))
                self.accounts.posted[account_id] += amount

    def batches(self) -> Iterator[dict[str, list[tuple]]]:
        """Rows for each table, a chunk of events at a time."""
        rng = self.rng
        start = BENCH_NOW - timedelta(days=HISTORY_DAYS)
        step_s = HISTORY_DAYS * 86_400 / max(self.events, 1)
        refunds: list[tuple[datetime, int, list, int, int]] = []  # due, clearing, reward...
        while self.event_id < self.events:
            at = start + timedelta(seconds=self.event_id * step_s + rng.random() * step_s)
            while refunds and refunds[0][0] <= at and self.event_id < self.events:
                self._refund(*heapq.heappop(refunds))
            if self.event_id >= self.events:
                break
            refund = self._purchase(at)
            if refund is not None:
                heapq.heappush(refunds, refund)
            if len(self.rows["event"]) >= CHUNK_ROWS:
                yield self._take()
        for _, _, reward_row, _, _ in refunds:  # refunds the history ends before
            self._finish(reward_row)
        yield self._take()

    def _take(self) -> dict[str, list[tuple]]:
        out = self.rows
        self.rows = {name: [] for name in out}
        return out

    def _purchase(self, at: datetime):
        rng, a = self.rng, self.accounts
        self.event_id += 1
        member_id = rng.randint(1, self.members)
        if rng.random() < OFFER_MERCHANT_SHARE:
            merchant_id = rng.randint(1, self.offer_merchants)
        else:
            merchant_id = rng.randint(self.offer_merchants + 1, self.merchants)
        spend = rng.randint(300, 15_000)
        candidates = self.by_merchant.get(merchant_id, [])
        offer = rng.choice(candidates) if candidates else None
        outcome, reason, reward_id, decisions = "no_offer", None, None, "[]"
        reward_row: list[Any] | None = None
        if offer is not None and in_holdout(offer.id, member_id, offer.holdout_bps):
            outcome, reason, decisions = "no_reward", "holdout", f'[[{offer.id},"holdout",0]]'
        elif offer is not None:
            reward, commission = _reward_of(offer, spend)
            left = self.budget_left[offer.id]
            if left is not None and left < reward:
                outcome, reason = "no_reward", "budget_exhausted"
                decisions = f'[[{offer.id},"budget_exhausted",0]]'
            else:
                if left is not None:
                    self.budget_left[offer.id] = left - reward
                self.reward_id += 1
                reward_id = self.reward_id
                outcome, decisions = "rewarded", f'[[{offer.id},"qualified",{reward}]]'
                hold_until = at + timedelta(days=offer.hold_days)
                matured = hold_until <= BENCH_NOW
                booked = at + timedelta(minutes=1)  # when the feed wrote its accrual posted
                reward_row = [
                    reward_id,
                    member_id,
                    offer.id,
                    merchant_id,
                    "USD",
                    "matured" if matured else "cleared",
                    self.event_id,
                    spend,
                    reward,
                    commission,
                    0,
                    0,
                    0,
                    at,
                    offer.hold_days,
                    hold_until,
                    at,
                    hold_until if matured else None,
                    reward if matured else 0,
                    booked,  # booked_at: its accrual's created_at, as the booking code sets it
                    0,
                    0,
                ]
        mid = f"MID{merchant_id:07d}00"
        self.rows["event"].append(
            (self.event_id, "file", f"pages-{self.event_id}", "clearing", member_id, member_id,
             merchant_id, spend, "USD", at, mid, "ACQ1", f"SHOP {merchant_id}",
             f"Shop {merchant_id}", "5814", "US", "10001", "in_store", None, None, outcome,
             reason, reward_id, decisions, at)
        )
        if reward_row is None or offer is None:
            return None
        key = tuple(reward_row[:4])
        entry = self._entry("accrual", "clearing", key, self.event_id, reward_row[19])
        reward, commission = reward_row[8], reward_row[9]
        self._post(entry, (a.receivable(merchant_id), -(reward + commission)),
                   (a.pending(member_id), reward), (a.revenue, commission))
        refund = None
        if self.rng.random() < REFUND_SHARE:
            due = at + timedelta(days=self.rng.randint(1, 5))
            if due < BENCH_NOW:
                refund = (due, self.event_id, reward_row, spend, merchant_id)
                return refund
        self._finish(reward_row)
        return None

    def _refund(
        self, at: datetime, clearing_id: int, reward_row: list, spend: int, merchant_id: int
    ) -> None:
        """Half the purchase back: half its reward and commission clawed, from pending if the
        hold had not ended, else from available."""
        a = self.accounts
        self.event_id += 1
        refunded = spend // 2
        reward, commission = reward_row[8], reward_row[9]
        clawed, clawed_commission = reward * refunded // spend, commission * refunded // spend
        reward_row[10:13] = [refunded, clawed, clawed_commission]
        reward_row[20:22] = [1, refunded]  # the clawback refund tally: this one event
        member_id, reward_id = reward_row[1], reward_row[0]
        self.rows["event"].append(
            (self.event_id, "file", f"pages-{self.event_id}", "refund", member_id, member_id,
             merchant_id, refunded, "USD", at, f"MID{merchant_id:07d}00", "ACQ1",
             f"SHOP {merchant_id}", f"Shop {merchant_id}", "5814", "US", "10001", "in_store",
             f"pages-{clearing_id}", clearing_id, "clawback", None, reward_id, "[]", at)
        )
        entry = self._entry(
            "clawback", f"refund:{self.event_id}", tuple(reward_row[:4]), self.event_id, at
        )
        hold_until = reward_row[15]
        member_account = a.pending(member_id) if at < hold_until else a.available(member_id)
        if at >= hold_until:  # matured before the refund: it had all gone to available
            self._mature(reward_row, reward)
            reward_row[18] = reward - clawed
            self._post(entry, (a.receivable(merchant_id), clawed + clawed_commission),
                       (member_account, -clawed), (a.revenue, -clawed_commission))
            self.rows["reward"].append(tuple(reward_row))
            return
        self._post(entry, (a.receivable(merchant_id), clawed + clawed_commission),
                   (member_account, -clawed), (a.revenue, -clawed_commission))
        self._finish(reward_row)

    def _mature(self, reward_row: list, amount: int) -> None:
        a, member_id = self.accounts, reward_row[1]
        entry = self._entry(
            "maturation", "maturation", tuple(reward_row[:4]), reward_row[6], reward_row[15]
        )
        self._post(entry, (a.pending(member_id), -amount), (a.available(member_id), amount))

    def _finish(self, reward_row: list) -> None:
        """The reward's row, with its maturation entry if its hold has ended."""
        if reward_row[5] == "matured":
            net = reward_row[8] - reward_row[11]
            self._mature(reward_row, net)
            reward_row[18] = net
        self.rows["reward"].append(tuple(reward_row))


# fmt: on


# -- writing -------------------------------------------------------------------------------------
_TABLES = {
    "event": (CardEventRow.__table__, _EVENT_COLUMNS),
    "reward": (Reward.__table__, _REWARD_COLUMNS),
    "entry": (LedgerEntry.__table__, _ENTRY_COLUMNS),
    "posting": (LedgerPosting.__table__, _POSTING_COLUMNS),
    "member": (Member.__table__, _MEMBER_COLUMNS),
    "card": (Card.__table__, _CARD_COLUMNS),
    "account": (LedgerAccount.__table__, _ACCOUNT_COLUMNS),
}


def _tsv(row: Sequence) -> str:
    return "\t".join("\\N" if v is None else str(v) for v in row) + "\n"


class _Writer:
    """COPY on PostgreSQL (one connection, triggers and foreign-key checks off for the
    load: the rows are generated consistent), executemany in one transaction on SQLite."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine, self.postgres = engine, engine.dialect.name == "postgresql"
        if self.postgres:
            plain = normalize_url(url).replace("postgresql+psycopg://", "postgresql://")
            self.pg = psycopg.connect(plain)
            self.pg.execute("SET session_replication_role = replica")
            self.pg.execute("SET work_mem = '256MB'")  # the derived tables' aggregates
            self.indexes = self._drop_indexes()
        else:
            engine.dispose()  # journal_mode can change only with no other connection open
            self.conn = engine.connect()
            # Outside a transaction, so on the driver's connection; accounts come last.
            self._pragmas("foreign_keys=OFF", "synchronous=OFF", "journal_mode=OFF")

    def _pragmas(self, *settings: str) -> None:
        raw = self.conn.connection.driver_connection
        assert raw is not None
        for setting in settings:
            raw.execute(f"PRAGMA {setting}")

    def _drop_indexes(self) -> list[str]:
        """The big tables' plain indexes, dropped for the load (one build after it is faster
        than ten million updates); constraints stay. Returns what re-creates them."""
        tables = [table.name for table, _ in _TABLES.values()]
        rows = self.pg.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)",
            [tables],
        ).fetchall()
        for name, _ in rows:
            self.pg.execute(f'DROP INDEX "{name}"')
        return [definition for _, definition in rows]

    def restore_indexes(self) -> None:
        if self.postgres:
            self.pg.execute("SET maintenance_work_mem = '512MB'")
            for definition in self.indexes:
                self.pg.execute(definition)

    def write(self, name: str, rows: Iterator[tuple] | list[tuple]) -> None:
        table, columns = _TABLES[name]
        if self.postgres:
            with self.pg.cursor().copy(
                f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
            ) as copy:
                chunk: list[str] = []
                for row in rows:
                    chunk.append(_tsv(row))
                    if len(chunk) >= CHUNK_ROWS:
                        copy.write("".join(chunk))
                        chunk = []
                copy.write("".join(chunk))
            return
        batch: list[dict] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) >= CHUNK_ROWS:
                self.conn.execute(insert(table), batch)
                batch = []
        if batch:
            self.conn.execute(insert(table), batch)

    def sql(self, statement: str) -> None:
        if self.postgres:
            self.pg.execute(statement)
        else:
            self.conn.exec_driver_sql(statement)

    def close(self) -> None:
        if self.postgres:
            self.pg.execute("SET session_replication_role = origin")
            self.pg.commit()
            self.pg.close()
        else:
            self.conn.commit()
            self._pragmas("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON")
            self.conn.close()


# What the feed keeps beside the events, derived from them in the database after the load.
_DERIVED = (
    # Purchase history per member and brand (new / returning customers).
    """INSERT INTO member_brand_state (member_id, merchant_id, first_purchase_at,
           last_purchase_at, purchase_count)
       SELECT member_id, merchant_id, MIN(occurred_at), MAX(occurred_at), COUNT(*)
       FROM card_event WHERE kind = 'clearing' AND merchant_id IS NOT NULL
       GROUP BY member_id, merchant_id""",
    # Offers that ask for activation: each rewarded member activated an hour before buying.
    """INSERT INTO activation (member_id, offer_id, activated_at)
       SELECT r.member_id, r.offer_id, MIN(r.occurred_at) - INTERVAL '1 hour'
       FROM reward r JOIN offer o ON o.id = r.offer_id
       WHERE o.activation_required GROUP BY r.member_id, r.offer_id""",
    # Budgets reserved: what the offers' rewards hold, net of clawbacks.
    """UPDATE offer_budget SET reserved_amount = used.amount, redemption_count = used.n
       FROM (SELECT offer_id, SUM(reward_amount - clawed_reward_amount) AS amount,
                    COUNT(*) AS n FROM reward GROUP BY offer_id) AS used
       WHERE used.offer_id = offer_budget.offer_id""",
)


def _sqlite_derived(statement: str) -> str:
    return statement.replace(
        "MIN(r.occurred_at) - INTERVAL '1 hour'", "datetime(MIN(r.occurred_at), '-1 hour')"
    )


def seed_history(
    engine: Engine, url: str, *, events: int, members: int, offers: int, seed: int
) -> dict[str, int]:
    """Write the history; returns the row counts."""
    merchants = max(20, offers // 5)
    seed_world(engine, seed=seed, now=BENCH_NOW, merchants=merchants, offers=offers, members=0)
    with engine.connect() as conn:
        o = Offer.__table__.c
        facts = [
            _OfferFacts(*row)
            for row in conn.execute(
                select(
                    o.id,
                    o.merchant_id,
                    o.reward_type,
                    o.rate_bps,
                    o.reward_amount,
                    o.max_reward_amount,
                    o.commission_bps,
                    o.commission_base,
                    o.hold_days,
                    o.holdout_bps,
                    o.budget_amount,
                )
                .where(o.status == "live")
                .order_by(o.id)
            )
        ]
    created = BENCH_NOW - timedelta(days=HISTORY_DAYS + 30)
    writer = _Writer(engine, url)
    try:
        writer.write(
            "member",
            (
                (
                    m,
                    f"member-{m}",
                    f"Member {m}",
                    f"member{m}@example.com",
                    m % 3,
                    m % 12 + 1,
                    created,
                )
                for m in range(1, members + 1)
            ),
        )
        writer.write(
            "card",
            (
                (
                    m,
                    m,
                    "publisher",
                    f"tok_pages_{m}",
                    f"fp_pages_{m}",
                    "visa",
                    f"{m % 10_000:04d}",
                    12,
                    BENCH_NOW.year + 3,
                    "active",
                    created,
                )
                for m in range(1, members + 1)
            ),
        )
        history = _History(
            seed=seed, events=events, members=members, merchants=merchants, offers=facts
        )
        counts = {"event": 0, "reward": 0, "entry": 0, "posting": 0}
        with tracked("seed", events) as tracker:
            for batch in history.batches():
                for name, rows in batch.items():
                    writer.write(name, rows)
                    counts[name] += len(rows)
                tracker.update(history.event_id, history.event_id)
        writer.write("account", history.accounts.rows())
        writer.restore_indexes()
        for statement in _DERIVED:
            writer.sql(statement if writer.postgres else _sqlite_derived(statement))
    finally:
        writer.close()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            for table in (
                "member",
                "card",
                "card_event",
                "reward",
                "ledger_entry",
                "ledger_posting",
                "ledger_account",
            ):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                )
    # Statistics for the planner and, on PostgreSQL, the visibility map that index-only scans
    # need (autovacuum would have set it long before a production table got this big).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    return counts
