"""The worker's HTTP views behind a bearer token (config/web_access.py has the rule).

An aiohttp middleware on Faust's web application, so it guards every path the worker
serves: spendstream's ``/totals`` and ``/metrics`` and Faust's own views (``/table/...``
would hand out table values, ``/router/`` the hosts), not only the ones we wrote. A
request without the token gets 401 and a body that names nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from config.settings import Settings
from config.web_access import authorized, bind_problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_SETTING = "SPENDSTREAM_WORKER_TOKEN"  # noqa: S105 - the variable's name, not a token


class WebBindError(ValueError):
    """The worker's web server may not bind where it is configured to (no token)."""


def token_middleware(token: str) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not authorized(request.headers.get("Authorization"), token):
            return web.json_response(
                {"error": "a token is required (Authorization: Bearer <token>)"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return await handler(request)

    return guard


def web_options(settings: Settings) -> dict[str, Any]:
    """Faust's ``web_application_options``: the token guard when a token is set. Raises
    WebBindError when the web server would bind beyond loopback without a token."""
    token = settings.worker_token.get_secret_value() if settings.worker_token is not None else None
    problem = bind_problem(settings.web_bind, token, TOKEN_SETTING)
    if problem is not None:
        raise WebBindError(problem)
    return {"middlewares": [token_middleware(token)]} if token is not None else {}
