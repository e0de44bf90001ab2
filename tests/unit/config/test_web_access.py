"""The HTTP views' rule (config/web_access.py) and the worker's guard settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from config.settings import Settings
from config.web_access import authorized, bearer_header, bind_problem, is_loopback
from streams.runner.web_guard import WebBindError, web_options


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "example.com", ""])
def test_anything_else_reaches_beyond_this_machine(host: str) -> None:
    assert not is_loopback(host)


def test_binding_beyond_loopback_needs_a_token() -> None:
    assert bind_problem("127.0.0.1", None, "T") is None
    assert bind_problem("0.0.0.0", "tok", "T") is None
    assert bind_problem("0.0.0.0", None, "T") == (
        "binding 0.0.0.0 (beyond loopback) needs a token (T); without one, bind 127.0.0.1"
    )
    assert bind_problem("127.0.0.1", " ", "T") == "T is empty"


def test_only_the_exact_bearer_token_is_authorized() -> None:
    assert authorized("Bearer s3cret", "s3cret")
    for header in (
        None,
        "",
        "s3cret",
        "Bearer s3cre",
        "Bearer s3cretx",
        "bearer s3cret",
        "Bearer s3cr\udcffet",
    ):
        assert not authorized(header, "s3cret"), header
    assert bearer_header("s3cret") == {"Authorization": "Bearer s3cret"} and bearer_header(None) == {}


def test_the_worker_refuses_to_serve_beyond_loopback_without_a_token() -> None:
    assert web_options(Settings(web_bind="127.0.0.1")) == {}
    with pytest.raises(WebBindError, match="SPENDSTREAM_WORKER_TOKEN"):
        web_options(Settings(web_bind="0.0.0.0"))
    options = web_options(Settings(web_bind="0.0.0.0", worker_token=SecretStr("tok")))
    assert len(options["middlewares"]) == 1
