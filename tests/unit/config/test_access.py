"""Access failures are named in one sentence, with the principal and never the password."""

from __future__ import annotations

import ssl

from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from config.access import principal, refusal
from config.settings import Settings

SECRET = "s3cr3t-never-shown"


def secured(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "broker": "127.0.0.1:9",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "runner",
        "sasl_password": SecretStr(SECRET),
    }
    return Settings(**{**values, **overrides})


def chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


def test_a_topic_refusal_names_principal_action_and_topic() -> None:
    exc = chained(RuntimeError("send failed"), TopicAuthorizationFailedError("p.usage"))
    found = refusal(exc, secured(), action="write", topic="p.usage")
    assert str(found) == "the broker refused User:runner: not allowed to write p.usage"
    assert str(refusal(TopicAuthorizationFailedError("p.totals"), secured())) == (
        "the broker refused User:runner: not allowed to use p.totals"
    )
    assert str(refusal(GroupAuthorizationFailedError("g1"), secured())) == (
        "the broker refused User:runner: not allowed to use consumer group g1"
    )


def test_a_failed_authentication_names_the_user_not_the_password() -> None:
    found = refusal(SaslAuthenticationFailed("invalid credentials"), secured())
    assert str(found) == (
        "authentication failed for user 'runner' (SCRAM-SHA-512) at 127.0.0.1:9: the broker rejected the "
        "user name or password (SPENDSTREAM_SASL_USERNAME/PASSWORD)"
    )
    assert SECRET not in str(found)


def test_an_unverified_certificate_points_at_the_ca_file() -> None:
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"
    assert str(refusal(error, secured())) == (
        "TLS: the certificate of the broker at 127.0.0.1:9 could not be verified (unable to get local "
        "issuer certificate); SPENDSTREAM_SSL_CAFILE must be the CA that signed it"
    )


def test_an_unreachable_broker_is_not_a_refusal() -> None:
    assert refusal(KafkaConnectionError("Unable to bootstrap"), secured()) is None
    assert refusal(OSError("connection refused"), secured()) is None


def test_without_sasl_the_client_is_unauthenticated() -> None:
    assert principal(Settings(broker="x:1")) == "an unauthenticated client"
    assert principal(secured()) == "User:runner"
