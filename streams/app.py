"""The Faust application: raw lines -> observations -> usage deltas -> usage, totals and windows.

``build_app`` only wires the pure stages (streams/stages/) to their topics and tables; the
runner (streams/runner/) is the only code that knows Faust. Stages and guarantees:
streams/README.md.
"""

from __future__ import annotations

from typing import Any

import faust

from config.kafka import DEADLETTER, DELTAS, OBSERVATIONS, RAW, TOTALS, USAGE, WINDOWS
from config.settings import Settings
from schemas.accounting import WindowConfig
from schemas.decoded_events import DecodedEvents
from schemas.pricing import load_price_table
from schemas.signing import RunnerVerifier, fleet_secret_bytes
from streams.metrics import Metrics
from streams.runner.faust_app import new_app
from streams.runner.worker import Worker
from streams.stages.ledger import LedgerStage
from streams.stages.normalize import NormalizeStage
from streams.stages.rollup import RollupStage
from streams.web import register_views


def runner_verifier(settings: Settings) -> RunnerVerifier | None:
    """The check of runner signatures when a fleet secret is set (else runner ids are trusted)."""
    if settings.runner_secret is None:
        return None
    return RunnerVerifier(fleet_secret_bytes(settings.runner_secret.get_secret_value()))


def build_app(settings: Settings, *, decoded: DecodedEvents | None = None, **overrides: Any) -> faust.App:
    """The worker's Faust app; ``decoded`` hands the ledger's events to the rollup and the
    rollup's to a lake sink in this process (schemas/decoded_events.py)."""
    app = new_app(settings, **overrides)
    metrics = Metrics.for_this_run()
    app.spendstream_metrics = metrics  # type: ignore[attr-defined]
    names = {
        name: settings.topic(name) for name in (RAW, OBSERVATIONS, DELTAS, USAGE, DEADLETTER, TOTALS, WINDOWS)
    }
    worker = Worker(app, settings, metrics, names)
    # Dedup state expires (streams/runner/tables.py); totals never do: a scope's totals are its bill.
    worker.table("streams", RAW, settings.stream_ttl_seconds)
    worker.table("ledger", OBSERVATIONS, settings.dedup_ttl_seconds)
    worker.table("totals", DELTAS, None)
    worker.table("windows", DELTAS, settings.dedup_ttl_seconds)
    prices = load_price_table(settings.prices_file)
    worker.stage(NormalizeStage(settings.partitions, runner_verifier(settings)))
    worker.stage(LedgerStage(settings.partitions, prices, settings.cost_mode, decoded))
    windows = WindowConfig(settings.window_sizes_seconds, settings.window_grace_seconds)
    worker.stage(RollupStage(windows, decoded))
    worker.expire_state()
    worker.purge_internal(OBSERVATIONS, DELTAS)
    worker.watch_recovery()
    worker.watch_inputs()
    register_views(app, worker, metrics)
    return app
