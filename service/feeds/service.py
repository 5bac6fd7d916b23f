"""One pipeline per application, built with it (it holds the offer index and account cache),
and ingestion that is timed and counted for /metrics at this layer."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from fastapi import FastAPI

from matching.events import Source
from service.feeds.pipeline import IngestOutcome, IngestPipeline
from service.observability.metrics import count_ingested, timed_batch


def pipeline_for(app: FastAPI) -> IngestPipeline:
    pipeline: IngestPipeline = app.state.pipeline
    return pipeline


def ingest_batch_counted(
    pipeline: IngestPipeline, records: Sequence, source: Source, now: datetime
) -> list[IngestOutcome]:
    """`pipeline.ingest_batch`, with the batch's time, size and outcomes recorded."""
    with timed_batch(source.value, len(records)):
        outcomes = pipeline.ingest_batch(records, source, now)
    count_ingested(source.value, outcomes)
    return outcomes


def ingest_counted(
    pipeline: IngestPipeline, records: Iterable, source: Source, now: datetime
) -> Iterator[IngestOutcome]:
    """`pipeline.ingest` (a stream in batches of `pipeline.batch_events`, one commit each),
    each batch timed and counted."""
    batch: list = []
    for record in records:
        batch.append(record)
        if len(batch) >= pipeline.batch_events:
            yield from ingest_batch_counted(pipeline, batch, source, now)
            batch = []
    if batch:
        yield from ingest_batch_counted(pipeline, batch, source, now)
