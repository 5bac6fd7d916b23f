"""Response models for the explanation of a card event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class CandidateOut(BaseModel):
    """One offer that was considered: `won` paid, `qualified` lost to a bigger reward."""

    offer_id: int
    offer_title: str | None
    outcome: Literal["won", "qualified", "not_qualified"]
    reason: str
    reward_amount: int


class ExplanationOut(BaseModel):
    event_id: int
    kind: str
    outcome: str
    reason: str | None
    candidates: list[CandidateOut]
