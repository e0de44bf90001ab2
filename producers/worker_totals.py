"""One scope's live totals from a worker's ``GET /totals/<scope>`` (streams/web.py).

The cheap read for a check that runs often on an existing scope (``hook``): one HTTP
request to the worker's table, instead of reading the compacted ``totals`` topic. A 404
means the worker has no usage for the scope (yet): no spend. A 503 (tables recovering),
a refused connection or a timeout is an error: the caller decides (``--on-error``).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import orjson

from config.web_access import bearer_header
from schemas.rollup import ScopeTotals


class TotalsUnavailable(RuntimeError):
    """The worker could not say what the scope has spent."""


def worker_totals_url(base_url: str, scope: str) -> str:
    return f"{base_url.rstrip('/')}/totals/{urllib.parse.quote(scope, safe='')}"


def fetch_scope_totals(
    base_url: str, scope: str, timeout_s: float, token: str | None = None
) -> ScopeTotals | None:
    """The scope's record, None when the worker knows no usage of it. ``token``: the
    worker's (or serve's) bearer token, sent in the Authorization header only."""
    url = worker_totals_url(base_url, scope)
    request = urllib.request.Request(url, headers=bearer_header(token))  # noqa: S310 - our worker
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - our worker
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code == 401:
            raise TotalsUnavailable(
                f"worker answered 401 for {url}: SPENDSTREAM_WORKER_TOKEN is missing or wrong"
            ) from exc
        raise TotalsUnavailable(f"worker answered {exc.code} for {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TotalsUnavailable(f"no worker at {base_url} ({exc})") from exc
    try:
        return ScopeTotals.from_json_dict(orjson.loads(body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise TotalsUnavailable(f"the worker's answer for {url} is not a totals record") from exc
