"""``spendstream serve``: read-only HTTP over the lake plus live totals, and a dashboard.

- ``GET /api/usage?since=YYYY-MM-DD&until=YYYY-MM-DD&group=day|model|session`` (``group``
  may combine them, comma separated: ``day,model``): ``{"rows": [...]}``, each with the
  token fields, ``cost_usd``, the cost split, ``cache_hit_ratio``, ``events`` and
  ``cost_sources`` (sinks/usage_api.py).
- ``GET /api/token-attribution?session=S``: ``{"rows": [...]}``, one per API response.
- ``GET /api/totals/<scope>`` (also ``/totals/<scope>``, the worker's path, so ``hook`` can
  read any scope of a fleet here): the scope's live totals record (the ``totals`` topic's
  JSON); 404 for an unknown scope, 503 ``{"stale": true}`` until the totals are read up to date.
- ``GET /api/tree?root=R``: every scope of ``R``'s tree with own and subtree totals (``R``
  defaults to the root with the largest subtree cost); ``GET /api/roots``.
- ``GET /``: the dashboard (no CDN, no network: one page, SVG drawn by its own script).

It binds 127.0.0.1 by default. Bound elsewhere it needs a token (``--token`` or
SPENDSTREAM_SERVE_TOKEN), sent as ``Authorization: Bearer <token>``; the dashboard takes it
from the page's fragment (``/#token=...``, which browsers never send) and sends the header.
Nothing here writes: the lake and the topics are read only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from config.web_access import authorized
from schemas.rollup import ScopeTotals
from sinks.usage_api import ApiError, parse_day, parse_groups, token_attribution, usage
from spendstream.totals_cache import TotalsCache

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _record(record: ScopeTotals) -> dict[str, Any]:
    return record.to_json_dict()


def build_app(data_dir: Path, totals: TotalsCache | None, token: str | None) -> web.Application:
    """The HTTP application; ``totals`` None: live totals unavailable (lake only)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        # The page itself holds no data; every API call needs the token, in a header only
        # (a token in a URL ends up in histories and proxy logs).
        if (
            token is not None
            and request.path != "/"
            and not authorized(request.headers.get("Authorization"), token)
        ):
            return _json({"error": "a token is required (Authorization: Bearer <token>)"}, 401)
        try:
            return await handler(request)
        except ApiError as exc:
            return _json({"error": str(exc)}, 400)

    async def dashboard(_: web.Request) -> web.Response:
        page = resources.files("spendstream").joinpath("dashboard.html").read_bytes()
        return web.Response(body=page, content_type="text/html", charset="utf-8")

    async def api_usage(request: web.Request) -> web.Response:
        group = parse_groups(request.query.get("group"))
        since = parse_day(request.query.get("since"), "since")
        until = parse_day(request.query.get("until"), "until")
        rows = await asyncio.to_thread(usage, data_dir, group=group, since=since, until=until)
        return _json({"group": group, "rows": rows})

    async def api_attribution(request: web.Request) -> web.Response:
        session = request.query.get("session")
        if not session:
            raise ApiError("session is required")
        rows = await asyncio.to_thread(token_attribution, data_dir, session)
        return _json({"session": session, "rows": rows})

    def live() -> TotalsCache | web.Response:
        if totals is None:
            return _json({"stale": True, "reason": "live totals are off (no broker)"}, 503)
        if not totals.ready:
            return _json({"stale": True, "reason": totals.error or "reading the totals topic"}, 503)
        return totals

    async def api_totals(request: web.Request) -> web.Response:
        cache = live()
        if isinstance(cache, web.Response):
            return cache
        record = cache.latest.get(request.match_info["scope"])
        return _json(_record(record)) if record is not None else _json({"error": "unknown scope"}, 404)

    async def api_roots(_: web.Request) -> web.Response:
        cache = live()
        return (
            cache
            if isinstance(cache, web.Response)
            else _json({"roots": [_record(r) for r in cache.roots()]})
        )

    async def api_tree(request: web.Request) -> web.Response:
        cache = live()
        if isinstance(cache, web.Response):
            return cache
        roots = cache.roots(1)
        root = request.query.get("root") or (roots[0].scope if roots else "")
        return _json({"root": root, "scopes": [_record(r) for r in cache.tree(root)]})

    app = web.Application(middlewares=[guard])
    app.router.add_get("/", dashboard)
    app.router.add_get("/api/usage", api_usage)
    app.router.add_get("/api/token-attribution", api_attribution)
    app.router.add_get("/api/totals/{scope:.+}", api_totals)
    # The worker's path too: hooks of a fleet with several workers read every scope here
    # (SPENDSTREAM_WORKER_URL = this server), where a worker knows only its partitions'.
    app.router.add_get("/totals/{scope:.+}", api_totals)
    app.router.add_get("/api/roots", api_roots)
    app.router.add_get("/api/tree", api_tree)
    return app


async def serve(
    data_dir: Path, totals: TotalsCache | None, *, bind: str, port: int, token: str | None
) -> None:
    """Serve until cancelled (the totals cache follows its topic meanwhile)."""
    runner = web.AppRunner(build_app(data_dir, totals, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, bind, port)
    follow = asyncio.ensure_future(totals.run()) if totals is not None else None
    try:
        await site.start()
        await asyncio.Event().wait()
    finally:
        if totals is not None:
            totals.stop()
        if follow is not None:
            await asyncio.wait([follow], timeout=5)
        await runner.cleanup()
