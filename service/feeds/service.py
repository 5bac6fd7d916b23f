"""One pipeline per application (it holds the offer index and account cache)."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from service.feeds.pipeline import IngestPipeline

_lock = threading.Lock()


def pipeline_for(app: FastAPI) -> IngestPipeline:
    with _lock:
        pipeline = getattr(app.state, "pipeline", None)
        if pipeline is None:
            s = app.state.settings
            pipeline = IngestPipeline(
                app.state.engine,
                auth_expiry_days=s.auth_expiry_days,
                link_tolerance_bps=s.clearing_link_tolerance_bps,
                link_window_days=s.clearing_link_window_days,
            )
            app.state.pipeline = pipeline
        return pipeline
