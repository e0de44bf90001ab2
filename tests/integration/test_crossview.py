"""Issue 12, cross-view reconciliation, on a real broker: one Claude run sent as its
transcript and as its ``claude -p`` result (and again with its stream-json lines) by two
producers (one in process, one the ``spendstream publish`` command of another runner), in
every order, is counted once in ``totals`` and in the lake.

Each order is its own run: the fixture run (tests/fixtures/claude-crossview/) under a
session id of its own, so one worker serves all orders.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import Settings
from producers.publish import PublishRequest, publish
from tests.fixtures.claude_crossview import HERE, SESSION, transcript_lines
from tests.integration.harness import read_topic, running_worker, wait_for_query
from tests.integration.producers_harness import header, spendstream_async

pytestmark = pytest.mark.integration

RUN_OUTPUT = 64_185
RUN_COST = "10.589096750000"
VIEWS = ("transcript", "result", "stream")


def write_views(real_fixtures: Path, folder: Path, session: str) -> dict[str, Path]:
    """The run's three views under ``session``, one file each."""
    lines = {
        "transcript": transcript_lines(real_fixtures),
        "result": (HERE / "result.json").read_bytes().splitlines(),
        "stream": (HERE / "stream.jsonl").read_bytes().splitlines(),
    }
    folder.mkdir()
    paths = {}
    for view, view_lines in lines.items():
        paths[view] = folder / f"{view}.jsonl"
        paths[view].write_bytes(
            b"\n".join(line.replace(SESSION.encode(), session.encode()) for line in view_lines)
        )
    return paths


def orders() -> list[tuple[str, ...]]:
    """Every order of transcript + result, then of all three views."""
    return [*itertools.permutations(VIEWS[:2]), *itertools.permutations(VIEWS)]


async def test_a_run_sent_as_several_views_by_two_producers_counts_once_in_every_order(
    topics: Settings, real_fixtures: Path, tmp_path: Path
) -> None:
    runs = {f"{SESSION[:-4]}{i:04d}": order for i, order in enumerate(orders())}
    producers = [topics.model_copy(update={"runner_id": name}) for name in ("ci-runner", "laptop")]
    async with running_worker(topics):
        for session, order in runs.items():
            paths = write_views(real_fixtures, tmp_path / session, session)
            for i, view in enumerate(order):  # format detected (auto) by both producers
                if i % 2 == 0:  # one host's producer, in process
                    await publish(producers[0], PublishRequest(paths=(str(paths[view]),)))
                else:  # another host's: the `spendstream publish` command
                    done = await spendstream_async(producers[1], "publish", str(paths[view]))
                    assert done.returncode == 0, done.stderr.decode()

        def both_producers_sent_every_run(records: list[Any]) -> bool:
            sent = {(header(r, "ss-runner"), header(r, "ss-stream")) for r in records}
            return all(
                any(runner == name and session in stream for runner, stream in sent)
                for session in runs
                for name in ("ci-runner", "laptop")
            )

        await read_topic(topics, topics.topic("raw"), until=both_producers_sent_every_run)
        keys = {s.encode() for s in runs}
        totals = await read_topic(
            topics,
            topics.topic("totals"),
            until=lambda r: (
                {m.key for m in r if orjson.loads(m.value)["subtree"]["cost_usd"] == RUN_COST} >= keys
            ),
            wait_s=180,
        )
        rows = await wait_for_query(
            topics,
            "SELECT session_id, sum(input_tokens), sum(output_tokens), sum(cache_write_5m_tokens),"
            " sum(cache_write_1h_tokens), sum(cache_read_tokens), sum(cost_usd)"
            " FROM usage GROUP BY session_id ORDER BY session_id",
            until=lambda r: len(r) == len(runs) and all(row[6] >= Decimal(RUN_COST) for row in r),
            wait_s=120,
        )
    assert rows == [
        (session, 2016, RUN_OUTPUT, 622125, 0, 10172221, Decimal(RUN_COST)) for session in sorted(runs)
    ]
    for session in runs:
        latest = max(
            (orjson.loads(m.value) for m in totals if m.key == session.encode()), key=lambda t: t["version"]
        )
        subtree = latest["subtree"]
        assert (subtree["output_tokens"], subtree["cache_read_tokens"], subtree["cost_usd"]) == (
            RUN_OUTPUT,
            10172221,
            RUN_COST,
        ), runs[session]
