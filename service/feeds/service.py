"""One pipeline per application, built with it (it holds the offer index and account cache)."""

from __future__ import annotations

from fastapi import FastAPI

from service.feeds.pipeline import IngestPipeline


def pipeline_for(app: FastAPI) -> IngestPipeline:
    pipeline: IngestPipeline = app.state.pipeline
    return pipeline
