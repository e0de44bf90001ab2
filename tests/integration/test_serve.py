"""``spendstream serve`` on a real lake and live totals: every endpoint, and the dashboard in
headless Chromium (it loads, the charts draw, a screenshot is kept as a test artifact)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from sinks.usage_api import SPLIT_COLUMNS
from tests.integration.harness import running_worker, wait_for_query
from tests.integration.producers_harness import REPO, SPENDSTREAM, cli_env, free_port, spendstream

pytestmark = pytest.mark.integration

ARTIFACTS = REPO / "test-artifacts"
TRANSCRIPT_COST = Decimal("10.58909675")
RESULT_COST = Decimal("0.0856259")


@contextlib.contextmanager
def serving(settings: Settings, *args: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*SPENDSTREAM, "serve", "--port", str(port), *args],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(base + "/api/usage", timeout=2).close()
                break
            if proc.poll() is not None:
                raise AssertionError((proc.stdout.read() if proc.stdout else b"").decode())
            import time

            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read()) if "/api/" in url else response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


async def wait_for_live(base: str, scope: str, cost: Decimal) -> dict[str, Any]:
    for _ in range(150):
        status, body = await asyncio.to_thread(get, f"{base}/api/totals/{scope}")
        if status == 200 and Decimal(body["subtree"]["cost_usd"]) == cost:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"live totals of {scope} never reached {cost}: {status} {body}")


def chromium_check(url: str, screenshot: Path) -> str:
    """The dashboard's DOM after its scripts ran in headless Chromium; a screenshot beside it."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is required for the dashboard test (.ci/run installs Debian's chromium)"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=6000",
        "--window-size=1280,900",
    ]
    profile = screenshot.parent / "chromium-profile"
    dom = subprocess.run(
        [binary, *flags, f"--user-data-dir={profile}-dom", "--dump-dom", url],
        capture_output=True,
        timeout=120,
        check=True,
    ).stdout.decode()
    subprocess.run(
        [binary, *flags, f"--user-data-dir={profile}-shot", f"--screenshot={screenshot}", url],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return dom


async def test_serve_answers_every_endpoint_and_the_dashboard_draws(
    topics: Settings, tmp_path: Path, real_fixtures: Path
) -> None:
    transcript = real_fixtures / "claude-transcript"
    result = real_fixtures / "claude-json" / "result-success.json"
    async with running_worker(topics):
        for path in (transcript, result):
            done = await asyncio.to_thread(spendstream, topics, "publish", str(path))
            assert done.returncode == 0, done.stderr
        await wait_for_query(
            topics,
            "SELECT sum(cost_usd) FROM usage",
            until=lambda rows: rows[0][0] == TRANSCRIPT_COST + RESULT_COST,
        )
        with serving(topics) as base:
            status, body = await asyncio.to_thread(get, f"{base}/api/usage?group=session")
            assert status == 200
            costs = {row["session_id"]: Decimal(row["cost_usd"]) for row in body["rows"]}
            assert costs == {
                "132b2f66-ee5f-46f6-8904-32d9dc4d36c3": TRANSCRIPT_COST,
                "145cc619-8afc-49bd-8c24-81ce5bebe88d": RESULT_COST,
            }
            (row,) = [r for r in body["rows"] if r["session_id"].startswith("132b")]
            assert (row["output_tokens"], row["cache_read_tokens"]) == (64185, 10172221)
            assert row["cache_hit_ratio"] == pytest.approx(10172221 / (2016 + 10172221))
            split = sum(Decimal(row[c] or 0) for c in SPLIT_COLUMNS)
            assert split == TRANSCRIPT_COST
            status, body = await asyncio.to_thread(get, f"{base}/api/usage?group=model")
            assert (
                status == 200
                and sum(Decimal(r["cost_usd"]) for r in body["rows"]) == TRANSCRIPT_COST + RESULT_COST
            )
            status, body = await asyncio.to_thread(
                get, f"{base}/api/usage?group=day&since=2000-01-01&until=2000-01-02"
            )
            assert status == 200 and body["rows"] == []
            status, body = await asyncio.to_thread(get, f"{base}/api/usage?group=week")
            assert status == 400 and "group" in body["error"]
            live = await wait_for_live(base, "132b2f66-ee5f-46f6-8904-32d9dc4d36c3", TRANSCRIPT_COST)
            assert live["subtree"]["output_tokens"] == 64185
            status, body = await asyncio.to_thread(get, f"{base}/api/totals/no-such-scope")
            assert status == 404
            # The worker's path, for hooks of a fleet with several workers.
            status, body = await asyncio.to_thread(get, f"{base}/totals/132b2f66-ee5f-46f6-8904-32d9dc4d36c3")
            assert status == 200 and orjson.loads(body) == live
            status, body = await asyncio.to_thread(get, f"{base}/api/tree")
            assert status == 200 and body["root"] == "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
            status, body = await asyncio.to_thread(get, f"{base}/api/token-attribution")
            assert status == 400 and "session" in body["error"]
            session = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
            status, body = await asyncio.to_thread(get, f"{base}/api/token-attribution?session={session}")
            assert status == 200 and len(body["rows"]) == 100
            assert sum(Decimal(r["cost_usd"]) for r in body["rows"]) == TRANSCRIPT_COST
            assert sum(r["output_tokens"] for r in body["rows"]) == 64185
            for r in body["rows"]:
                parts = [r[c] or 0 for c in SPLIT_COLUMNS]
                assert sum(Decimal(p) for p in parts) == Decimal(r["cost_usd"]), r
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot = ARTIFACTS / "dashboard.png"
            dom = await asyncio.to_thread(chromium_check, base + "/", screenshot)
            assert 'data-charts-drawn="3"' in dom, dom[-3000:]
            assert dom.count('class="bar"') >= 3 and "132b2f66" in dom
            assert screenshot.stat().st_size > 10_000
            print(f"dashboard screenshot: {screenshot}")


def test_serve_needs_a_token_off_loopback(topics: Settings) -> None:
    refused = spendstream(topics, "serve", "--bind", "0.0.0.0", "--port", str(free_port()), timeout=30)
    assert refused.returncode == 2 and b"needs a token" in refused.stderr


async def test_a_token_guards_every_endpoint(topics: Settings) -> None:
    with serving(topics, "--token", "s3cret", "--no-live") as base:
        status, _ = await asyncio.to_thread(get, f"{base}/api/usage?group=day")
        assert status == 401
        status, body = await asyncio.to_thread(get, f"{base}/api/usage?group=day", "s3cret")
        assert status == 200 and body["rows"] == []
        status, _ = await asyncio.to_thread(get, f"{base}/api/totals/x", "s3cret")
        assert status == 503


def test_python_finds_the_dashboard_page() -> None:
    assert (
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from importlib import resources; "
                "assert resources.files('spendstream').joinpath('dashboard.html').is_file()",
            ],
            check=False,
        ).returncode
        == 0
    )
