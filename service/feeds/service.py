"""One pipeline per application, built with it (it holds the offer index and account cache);
its batches are timed and counted for /metrics at this layer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import FastAPI

from matching.events import Source
from service.feeds.pipeline import IngestOutcome, IngestPipeline
from service.observability.metrics import count_ingested, timed_batch


def pipeline_for(app: FastAPI) -> IngestPipeline:
    pipeline: IngestPipeline = app.state.pipeline
    return pipeline


class MeteredIngestPipeline(IngestPipeline):
    """The pipeline whose every batch (the network webhook's, `clo ingest`'s, a Plaid sync's
    through the app) is timed, sized and counted for /metrics from the outcomes it returns."""

    def ingest_batch(self, records: Sequence, source: Source, now: datetime) -> list[IngestOutcome]:
        with timed_batch(source.value, len(records)):
            outcomes = super().ingest_batch(records, source, now)
        count_ingested(source.value, outcomes)
        return outcomes
