"""Done-when (f): real HTTP against a real worker and a real ``serve`` bound beyond loopback
(this machine's own non-loopback address): a missing or wrong token is refused (401, naming
nothing), the right one is served; starting beyond loopback without a token fails clearly;
the loopback default is unchanged (tests/integration/test_runner_identity.py reads /metrics
on 127.0.0.1 without a token)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from config.settings import Settings
from config.web_access import is_loopback
from producers.worker_totals import TotalsUnavailable, fetch_scope_totals
from tests.integration.producers_harness import SPENDSTREAM, cli_env, free_port, spendstream
from tests.reliability.faults import on_free_port, worker_log_on_failure, worker_process

pytestmark = pytest.mark.integration

TOKEN = "worker-token-0123456789abcdef"
DENIED = {"error": "a token is required (Authorization: Bearer <token>)"}


def host_address() -> str:
    """This machine's first non-loopback IPv4 address (``hostname -I``)."""
    found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    for address in found:
        if "." in address and not is_loopback(address):
            return address
    pytest.skip("this machine has no non-loopback IPv4 address")


def get(url: str, authorization: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"null")


def wait_until_up(url: str, proc: subprocess.Popen[bytes] | None = None, wait_s: float = 90.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            get(url)
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}")
        time.sleep(0.3)
    raise TimeoutError(f"nothing answers at {url}")


def assert_refuses_all_but_the_token(url: str) -> None:
    assert get(url) == (401, DENIED)
    assert get(url, "Bearer wrong-token") == (401, DENIED)
    assert get(url, TOKEN) == (401, DENIED)  # the scheme is part of it
    assert get(url, f"Bearer {TOKEN}x") == (401, DENIED)
    assert get(url, f"Bearer {TOKEN}")[0] == 200


async def test_a_worker_beyond_loopback_needs_its_token(topics: Settings, tmp_path: Path) -> None:
    host = host_address()
    settings = on_free_port(topics).model_copy(update={"web_bind": host, "worker_token": SecretStr(TOKEN)})
    base = f"http://{host}:{settings.web_port}"
    with worker_process(settings, tmp_path / "worker.log") as worker, worker_log_on_failure(worker):
        await asyncio.to_thread(wait_until_up, base + "/metrics")
        await asyncio.to_thread(assert_refuses_all_but_the_token, base + "/metrics")
        # every path, Faust's own views included (/table would hand out table values)
        for path in ("/totals/some-root", "/table/totals/", "/router/", "/"):
            assert await asyncio.to_thread(get, base + path) == (401, DENIED), path
        status, _ = await asyncio.to_thread(get, base + "/totals/some-root", f"Bearer {TOKEN}")
        assert status in (404, 503)  # unknown scope (or still recovering): but answered
        # the hook's client sends SPENDSTREAM_WORKER_TOKEN
        await asyncio.to_thread(wait_for_recovery, base)
        assert await asyncio.to_thread(fetch_scope_totals, base, "some-root", 5.0, TOKEN) is None
        with pytest.raises(TotalsUnavailable, match=r"401 .*: SPENDSTREAM_WORKER_TOKEN is missing or wrong"):
            await asyncio.to_thread(fetch_scope_totals, base, "some-root", 5.0, None)
        # nothing is served on loopback: the worker bound the address it was given
        with pytest.raises(OSError):
            await asyncio.to_thread(get, f"http://127.0.0.1:{settings.web_port}/metrics")


def wait_for_recovery(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if get(base + "/totals/some-root", f"Bearer {TOKEN}")[0] == 404:
            return
        time.sleep(0.3)
    raise TimeoutError("the worker's tables never recovered")


@pytest.mark.parametrize("bind", ["host", "0.0.0.0"])
def test_a_worker_beyond_loopback_without_a_token_refuses_to_start(topics: Settings, bind: str) -> None:
    address = host_address() if bind == "host" else bind
    settings = on_free_port(topics).model_copy(update={"web_bind": address})
    started = time.monotonic()
    refused = spendstream(settings, "worker", timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.decode().strip() == (
        f"spendstream worker: web server: binding {address} (beyond loopback) needs a token "
        "(SPENDSTREAM_WORKER_TOKEN); without one, bind 127.0.0.1"
    )
    assert time.monotonic() - started < 30  # refused before anything connects


@contextlib.contextmanager
def serving(settings: Settings, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [*SPENDSTREAM, "serve", *args],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_beyond_loopback_needs_its_token(topics: Settings) -> None:
    host, port = host_address(), free_port()
    with serving(topics, "--bind", host, "--port", str(port), "--no-live", "--token", TOKEN) as proc:
        base = f"http://{host}:{port}"
        wait_until_up(base + "/api/usage", proc)
        assert_refuses_all_but_the_token(base + "/api/usage?group=day")
        assert get(base + "/totals/some-root") == (401, DENIED)
    refused = spendstream(topics, "serve", "--bind", host, "--port", str(free_port()), timeout=30)
    assert refused.returncode == 2
    assert b"(beyond loopback) needs a token" in refused.stderr
