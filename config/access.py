"""The broker refused this client: authentication and authorization failures, named plainly.

These failures are terminal: retrying, or spooling lines for later, cannot make a wrong
password right or an ACL appear. :func:`refusal` recognises them anywhere in an exception's
chain and says what was refused, to whom (``User:<name>``), never with the password.

aiokafka reports a failed SASL authentication only in a log line and then raises
``KafkaConnectionError("Unable to bootstrap ...")``, the same error as for a broker that is
down; :func:`diagnose` connects once more the way aiokafka does to find the cause.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    TransactionalIdAuthorizationFailed,
    UnsupportedSaslMechanismError,
)

from config.kafka import client_options
from config.settings import Settings

_PROBE_TIMEOUT_S = 10.0


class AccessRefused(RuntimeError):
    """The broker refused this client's identity or rights (terminal: never retried or spooled)."""


def principal(settings: Settings) -> str:
    if settings.security_protocol.startswith("SASL") and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    return "an unauthenticated client"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _topics(exc: BaseException, fallback: str | None) -> str:
    if fallback:
        return fallback
    names = [str(arg) for arg in exc.args if arg]
    return ", ".join(names) if names else "a topic"


def refusal(
    exc: BaseException, settings: Settings, *, action: str = "use", topic: str | None = None
) -> AccessRefused | None:
    """The access failure in ``exc``'s chain as one sentence, or None if it holds none.

    ``action`` (read, write ...) and ``topic`` say what the client was doing, when known."""
    if isinstance(exc, AccessRefused):
        return exc
    who = principal(settings)
    for error in _chain(exc):
        if isinstance(error, AccessRefused):
            return error
        if isinstance(error, TopicAuthorizationFailedError):
            return AccessRefused(f"the broker refused {who}: not allowed to {action} {_topics(error, topic)}")
        if isinstance(error, GroupAuthorizationFailedError):
            return AccessRefused(
                f"the broker refused {who}: not allowed to use consumer group {_topics(error, None)}"
            )
        if isinstance(error, TransactionalIdAuthorizationFailed):
            return AccessRefused(f"the broker refused {who}: not allowed to use its transactional id")
        if isinstance(error, ClusterAuthorizationFailedError):
            return AccessRefused(f"the broker refused {who}: not allowed to {action} on the cluster")
        if isinstance(error, SaslAuthenticationFailed | AuthenticationFailedError):
            return AccessRefused(
                f"authentication failed for user {settings.sasl_username!r} "
                f"({settings.sasl_mechanism or 'SCRAM-SHA-512'}) at {settings.bootstrap_servers}: "
                "the broker rejected the user name or password (SPENDSTREAM_SASL_USERNAME/PASSWORD)"
            )
        if isinstance(error, UnsupportedSaslMechanismError):
            return AccessRefused(
                f"the broker at {settings.bootstrap_servers} does not accept SASL mechanism "
                f"{settings.sasl_mechanism!r} (SPENDSTREAM_SASL_MECHANISM)"
            )
        if isinstance(error, ssl.SSLCertVerificationError):
            return AccessRefused(
                f"TLS: the certificate of the broker at {settings.bootstrap_servers} could not be verified "
                f"({error.verify_message}); SPENDSTREAM_SSL_CAFILE must be the CA that signed it"
            )
    return None


async def diagnose(settings: Settings) -> AccessRefused | None:
    """Why no bootstrap server answered: an access failure, or None (down, unreachable ...)."""
    if settings.security_protocol == "PLAINTEXT":
        return None  # nothing to authenticate: a failed bootstrap is the network's
    timeout = min(_PROBE_TIMEOUT_S, settings.producer_timeout_seconds)
    options = client_options(settings)
    for server in settings.bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    security_protocol=options["security_protocol"],
                    ssl_context=options.get("ssl_context"),
                    sasl_mechanism=options.get("sasl_mechanism"),
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                ),
                timeout,
            )
        except Exception as exc:  # the probe only looks for a cause; anything else: not access
            found = refusal(exc, settings)
            if found is not None:
                return found
            continue
        conn.close()
    return None


async def explain(
    exc: BaseException, settings: Settings, *, action: str = "use", topic: str | None = None
) -> AccessRefused | None:
    """:func:`refusal`, and for a failed bootstrap the cause :func:`diagnose` finds."""
    found = refusal(exc, settings, action=action, topic=topic)
    if found is None and any(isinstance(error, KafkaConnectionError) for error in _chain(exc)):
        found = await diagnose(settings)
    return found
