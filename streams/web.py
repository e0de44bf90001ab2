"""The worker's HTTP views: current totals of a scope, and the worker's counters.

``GET /totals/<scope>`` answers with the same JSON as the ``totals`` topic. Reads are local
to this worker: during recovery or a rebalance the table may be behind, so the answer
says ``503`` with ``{"stale": true}`` until the worker's tables are recovered. A scope kept
by another worker (several workers) is ``404`` here; the ``totals`` topic has every scope.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import faust
import orjson
from faust.web import Request, Response, View

from streams.metrics import Metrics
from streams.runner.worker import Worker


def register_views(app: faust.App, worker: Worker, metrics: Metrics) -> None:
    totals_table = worker.tables["totals"]
    tables_by_name = worker.tables

    def json_response(view: View, body: Any, status: int = 200) -> Response:
        return view.bytes(orjson.dumps(body), content_type="application/json", status=status)

    @app.page("/totals/{scope:.+}")
    class TotalsView(View):
        async def get(self, request: Request, scope: str) -> Response:
            if not worker.recovered():
                return json_response(self, {"stale": True, "reason": "recovering"}, status=503)
            data = totals_table.get(unquote(scope).encode())
            if data is None:
                return json_response(self, {"error": "unknown scope on this worker"}, status=404)
            # The table keeps the record with its recently applied event ids; serve the record.
            return json_response(self, orjson.loads(data)["r"])

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            state_keys = {name: len(table.data) for name, table in tables_by_name.items()}
            return json_response(self, metrics.to_json_dict(state_keys))
