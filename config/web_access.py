"""Who may read spendstream's HTTP views (the worker's and ``serve``'s): one rule, two servers.

Bound to a loopback address (the default, 127.0.0.1), a view answers whoever can reach this
machine's loopback: the same trust as the user's files. Bound anywhere else it answers the
network, so a bearer token is required (the server refuses to start without one) and every
request must carry ``Authorization: Bearer <token>``, compared in constant time; without
it the answer is 401 and names nothing (no scope, no count). A token set on a loopback
server is required too.
"""

from __future__ import annotations

import hmac
import ipaddress

BEARER = "Bearer "


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for 0.0.0.0,
    other addresses and names, which may reach beyond this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_problem(host: str, token: str | None, token_setting: str) -> str | None:
    """Why a server may not bind ``host`` with this token (None: it may)."""
    if token is not None and not token.strip():
        return f"{token_setting} is empty"
    if token is None and not is_loopback(host):
        return (
            f"binding {host} (beyond loopback) needs a token ({token_setting}); without one, bind 127.0.0.1"
        )
    return None


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant time)."""
    given = (header or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(given, (BEARER + token).encode("utf-8"))


def bearer_header(token: str | None) -> dict[str, str]:
    """The header a client sends (none without a token)."""
    return {"Authorization": BEARER + token} if token else {}
