"""``spendstream serve [--port P]``: read-only HTTP over the lake plus live totals, and a dashboard."""

from __future__ import annotations

import argparse
import asyncio
import sys

from config.settings import Settings
from config.web_access import bind_problem
from spendstream.serve import serve
from spendstream.totals_cache import TotalsCache

TOKEN_ENV = "SPENDSTREAM_SERVE_TOKEN"  # noqa: S105  (the variable's name, not a token)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="read-only HTTP API over the lake and live totals, with a dashboard at /",
        description=(
            "Serve the lake (SPENDSTREAM_DATA_DIR) and the live totals topic over HTTP: "
            "/api/usage?since&until&group=day|model|session, /api/token-attribution?session=S, "
            "/api/totals/<scope>, /api/tree?root=R, and a dashboard at / (works offline). "
            "Binds 127.0.0.1; bound to another address it requires a token."
        ),
    )
    parser.add_argument("--port", type=int, default=8787, help="TCP port (default 8787)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--token",
        default=None,
        help=f"require this token on every API call (Authorization: Bearer); default ${TOKEN_ENV}",
    )
    parser.add_argument(
        "--no-live", action="store_true", help="lake only: do not follow the totals topic (no broker needed)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    token = args.token or (settings.serve_token.get_secret_value() if settings.serve_token else None)
    problem = bind_problem(args.bind, token, f"--token or ${TOKEN_ENV}")
    if problem is not None:
        print(f"spendstream serve: {problem}", file=sys.stderr)
        return 2
    totals = None if args.no_live else TotalsCache(settings)
    print(f"spendstream serve: http://{args.bind}:{args.port}/ (lake {settings.data_dir})", flush=True)
    asyncio.run(serve(settings.data_dir, totals, bind=args.bind, port=args.port, token=token))
    return 0
