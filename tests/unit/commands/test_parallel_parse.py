"""``parse_parallel`` (file groups over a fork pool, fast or exact route per group, merged or
redone serially) gives exactly what the serial exact parse (``parse_paths`` through one
MemoryLedger) gives, on generated histories, on the real fixtures, and on the cases that
must take the exact route or the serial fallback."""

from __future__ import annotations

import random
import shutil
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import gen_fixture_history, gen_history
from schemas.ledger import MemoryLedger
from schemas.pricing import CostMode, default_price_table
from schemas.sources import pruned
from schemas.usage import TokenCounts
from spendstream.local_parse import ParseSummary, expand_paths, parse_paths
from spendstream.parallel_parse import (
    ParseJob,
    _lines,
    file_groups,
    merge_results,
    parse_group,
    parse_parallel,
)

REPO = Path(__file__).resolve().parents[3]
SESSION = "132b2f66-ee5f-46f6-8904-32d9dc4d36c3"
MiB = 2**20


def serial(paths: list[Path], mode: CostMode = "reported") -> ParseSummary:
    summary, unreadable = parse_paths(
        paths, "auto", MemoryLedger(prices=default_price_table(), mode=mode), "r"
    )
    assert unreadable == []
    return summary


def job(mode: CostMode = "reported", check_all: bool = False) -> ParseJob:
    return ParseJob("auto", default_price_table(), mode, "r", check_all=check_all)


def routes(paths: list[Path], mode: CostMode = "reported") -> list[str] | None:
    """Each group's route, or None when the groups' results cannot be merged (serial fallback)."""
    results = [parse_group(files, job(mode)) for files in file_groups(paths)]
    return None if merge_results(results) is None else [r.route for r in results]


def lines_of(summary: ParseSummary) -> int:
    return sum(summary.outcomes[k] for k in ("usage", "no_usage", "rejected", "skipped"))


def assert_exact(paths: list[Path], mode: CostMode = "reported") -> ParseSummary:
    """Every way of running parse_parallel equals the serial parse; returns the serial summary."""
    want = serial(paths, mode)
    for jobs in (1, 2):
        for check_all in (False, True):
            got, unreadable = parse_parallel(paths, job(mode, check_all), jobs=jobs)
            where = f"jobs={jobs} check_all={check_all}"
            assert unreadable == [], where
            assert got.sessions == want.sessions, where
            assert got.total() == want.total(), where
            assert list(got.files.items()) == list(want.files.items()), where
            assert got.unpriced.counts == want.unpriced.counts, where
            assert got.disagreeing == want.disagreeing, where
            assert got.outcomes["usage"] == want.outcomes["usage"], where
            assert lines_of(got) == lines_of(want), where
            if check_all:
                assert got.outcomes == want.outcomes, where
                assert got.rejections == want.rejections, where
    return want


def by_session(summary: ParseSummary) -> dict[str, tuple[TokenCounts, Decimal]]:
    """Scopes summed per CLI session (a subagent's ``<session>/agent-<id>`` into its session)."""
    out: dict[str, tuple[TokenCounts, Decimal]] = {}
    for scope, totals in summary.sessions.items():
        tokens, cost = out.get(scope.split("/", 1)[0], (TokenCounts(), Decimal(0)))
        out[scope.split("/", 1)[0]] = (tokens + totals.tokens, cost + totals.cost_usd)
    return out


def expected_sessions(root: Path) -> dict[str, tuple[TokenCounts, Decimal]]:
    document = orjson.loads((root / "expected.json").read_bytes())
    return {
        sid: (
            TokenCounts(
                input_tokens=s["input"],
                output_tokens=s["output"],
                cache_read_tokens=s["cache_read"],
                cache_write_5m_tokens=s["cache_write_5m"],
                cache_write_1h_tokens=s["cache_write_1h"],
                web_search_requests=s["web_search"],
            ),
            Decimal(s["cost_usd"]),
        )
        for sid, s in document["sessions"].items()
    }


# --- generated histories and the real fixtures ---------------------------------------------


@pytest.mark.parametrize("mode", ["reported", "computed"])
def test_a_generated_history_is_parsed_exactly(tmp_path: Path, mode: CostMode) -> None:
    gen_history.generate(tmp_path, 4 * MiB, seed=5)
    paths = expand_paths([str(tmp_path / "projects")])
    assert any(p.parent.name == "subagents" for p in paths)
    summary = assert_exact(paths, mode)
    assert by_session(summary) == expected_sessions(tmp_path)
    assert routes(paths, mode) == ["fast"] * len(file_groups(paths))


def test_a_history_of_fixture_copies_is_parsed_exactly(tmp_path: Path) -> None:
    gen_fixture_history.generate(tmp_path, 3 * MiB, seed=9)
    paths = expand_paths([str(tmp_path / "projects")])
    summary = assert_exact(paths)
    expected = expected_sessions(tmp_path)
    assert len(expected) == 2
    assert by_session(summary) == expected
    assert set(expected.values()) == {(gen_fixture_history.FIXTURE_TOKENS, gen_fixture_history.FIXTURE_COST)}
    assert routes(paths) == ["fast"] * 2


def test_the_real_fixtures_are_parsed_exactly(real_fixtures: Path) -> None:
    paths = expand_paths([str(real_fixtures)])
    summary = assert_exact(paths)
    assert summary.sessions[SESSION].cost_usd == Decimal("10.58909675")
    # Each file its own group: the transcript by the fast route, every other format exactly.
    assert [p.name for p in file_groups(paths)[2]] == [f"{SESSION}.jsonl"]
    assert routes(paths) == ["exact", "exact", "fast", *["exact"] * 6]


def test_the_repo_fixtures_with_a_run_seen_twice_fall_back(real_fixtures: Path) -> None:
    # claude-crossview holds one run as stream-json and as a claude -p result: one ledger group.
    paths = expand_paths([str(real_fixtures), str(REPO / "tests" / "fixtures")])
    assert routes(paths) is None
    assert_exact(paths)


# --- cases that take the exact route or the serial fallback -----------------------------------


@pytest.fixture
def transcript(real_fixtures: Path) -> bytes:
    return (real_fixtures / "claude-transcript" / f"{SESSION}.jsonl").read_bytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_transcript_copied_under_another_name_elsewhere_falls_back(
    tmp_path: Path, transcript: bytes
) -> None:
    write(tmp_path / "p" / "-a" / f"{SESSION}.jsonl", transcript)
    write(tmp_path / "p" / "-b" / "copy.jsonl", transcript)
    write(tmp_path / "p" / "-b" / "other.jsonl", transcript.replace(SESSION.encode(), b"other-session"))
    paths = expand_paths([str(tmp_path)])
    assert routes(paths) is None
    summary = assert_exact(paths)
    # The copy names the same responses of the same session: counted once.
    assert summary.sessions[SESSION].cost_usd == Decimal("10.58909675")
    assert summary.sessions["other-session"].cost_usd == Decimal("10.58909675")


def test_a_file_with_escapes_is_exact(tmp_path: Path, transcript: bytes) -> None:
    lines = transcript.split(b"\n")
    index = next(i for i, line in enumerate(lines) if b'"usage":{' in line and b'"assistant"' in line)
    lines[index] = lines[index].replace(b'"usage":{', b'"us\\u0061ge":{', 1)
    lines[index + 1] = lines[index + 1].replace(b'"type":"assistant"', b'"type":"\\u0061ssistant"')
    path = write(tmp_path / "p" / f"{SESSION}.jsonl", b"\n".join(lines))
    assert b"\\u0061" in path.read_bytes()
    summary = assert_exact([path])
    assert summary.sessions[SESSION].cost_usd == Decimal("10.58909675")
    # Read line by line (the escaped lines by the worker's classification), still summed fast.
    assert routes([path]) == ["fast"]


def test_crlf_line_endings_are_exact(tmp_path: Path, transcript: bytes) -> None:
    path = write(tmp_path / "p" / f"{SESSION}.jsonl", transcript.replace(b"\n", b"\r\n"))
    summary = assert_exact([path])
    assert summary.sessions[SESSION].cost_usd == Decimal("10.58909675")
    assert routes([path]) == ["fast"]


@pytest.mark.parametrize("lead", [b"", b"\n", b"  \n"])
def test_blank_lines_are_exact(tmp_path: Path, transcript: bytes, lead: bytes) -> None:
    lines = transcript.split(b"\n")
    spaced = b"\n".join(
        line + (b"\n \t" if i % 7 == 0 else b"\n" if i % 5 == 0 else b"") for i, line in enumerate(lines)
    )
    path = write(tmp_path / "p" / f"{SESSION}.jsonl", lead + spaced + b"\n\n")
    summary = assert_exact([path])
    assert summary.sessions[SESSION].cost_usd == Decimal("10.58909675")


def test_a_bad_line_is_rejected_with_its_line_number(tmp_path: Path, transcript: bytes) -> None:
    lines = transcript.split(b"\n")
    lines.insert(99, b'{"type":"assistant","message":{"usage":{"input_tokens":-1}},"sessionId":"x"}')
    lines.insert(9, b'{"type":"assistant","message":{"usage":')  # not JSON, but holds both words
    lines.insert(4, b"not json, no words")
    path = write(tmp_path / "p" / f"{SESSION}.jsonl", b"\r\n".join(lines))
    want = assert_exact([path])
    assert [(r.line, r.reason) for r in want.rejections] == [
        (5, "not valid JSON (at char 0)"),
        (11, "not valid JSON (at char 39)"),
        (102, "input_tokens must be an integer from 0 to 1000000000000"),
    ]
    got, _ = parse_parallel([path], job(), jobs=2)
    # Without --check-all, the line holding no usage key is skipped undecoded.
    assert [(r.path, r.line) for r in got.rejections] == [(str(path), 11), (str(path), 102)]
    assert got.outcomes["rejected"] == 2


def test_a_subagent_file_is_exact(tmp_path: Path, transcript: bytes) -> None:
    main = write(tmp_path / "p" / f"{SESSION}.jsonl", transcript)
    agent_lines = [
        line.replace(b'"isSidechain":false', b'"isSidechain":true,"agentId":"a1b2"').replace(
            b"msg_01", b"msg_a1"
        )
        for line in transcript.split(b"\n")[:200]
    ]
    agent = write(tmp_path / "p" / SESSION / "subagents" / "agent-a1b2.jsonl", b"\n".join(agent_lines))
    other = write(tmp_path / "p" / "other.jsonl", transcript.replace(SESSION.encode(), b"other-session"))
    paths = expand_paths([str(tmp_path)])
    assert paths == [main, other, agent]
    summary = assert_exact(paths)
    assert set(summary.sessions) == {SESSION, f"{SESSION}/agent-a1b2", "other-session"}
    assert summary.sessions[f"{SESSION}/agent-a1b2"].lineage == (SESSION,)
    assert routes(paths) == ["fast", "fast"]


def result_for(session: str, real_fixtures: Path) -> bytes:
    result = orjson.loads((real_fixtures / "claude-json" / "result-success.json").read_bytes())
    result["session_id"] = session
    return orjson.dumps(result)


def test_a_result_file_of_the_same_session_beside_it_is_exact(
    tmp_path: Path, transcript: bytes, real_fixtures: Path
) -> None:
    write(tmp_path / "p" / f"{SESSION}.jsonl", transcript)
    write(tmp_path / "p" / f"{SESSION}.json", result_for(SESSION, real_fixtures))
    write(tmp_path / "p" / "other.jsonl", transcript.replace(SESSION.encode(), b"other-session"))
    paths = expand_paths([str(tmp_path)])
    assert routes(paths) == ["exact", "fast"]
    assert_exact(paths)


def test_a_result_file_of_the_same_session_elsewhere_falls_back(
    tmp_path: Path, transcript: bytes, real_fixtures: Path
) -> None:
    write(tmp_path / "p" / f"{SESSION}.jsonl", transcript)
    write(tmp_path / "results" / "run.json", result_for(SESSION, real_fixtures))
    paths = expand_paths([str(tmp_path)])
    assert routes(paths) is None
    assert_exact(paths)


def test_everything_at_once(tmp_path: Path, transcript: bytes, real_fixtures: Path) -> None:
    write(tmp_path / "a" / f"{SESSION}.jsonl", transcript.replace(b"\n", b"\r\n"))
    write(tmp_path / "b" / "copy.jsonl", transcript)
    write(
        tmp_path / "c" / "blank.jsonl",
        transcript.replace(SESSION.encode(), b"s-blank").replace(b"\n", b"\n\n"),
    )
    write(tmp_path / "c" / "run.json", result_for("s-blank", real_fixtures))
    shutil.copytree(real_fixtures, tmp_path / "real")
    assert_exact(expand_paths([str(tmp_path)]))


def test_rejections_are_listed_in_file_order_as_the_serial_parse_lists_them(
    tmp_path: Path, transcript: bytes
) -> None:
    bad = b'{"type":"assistant","message":{"usage":'
    head = transcript.split(b"\n")[:30]
    main = write(tmp_path / "p" / f"{SESSION}.jsonl", b"\n".join([*head, *[bad] * 60]))
    other = write(
        tmp_path / "p" / "other.jsonl", b"\n".join([*head, *[bad] * 60]).replace(SESSION.encode(), b"o")
    )
    agent = write(tmp_path / "p" / SESSION / "subagents" / "agent-x.jsonl", b"\n".join([*head[:5], bad, bad]))
    paths = expand_paths([str(tmp_path)])
    assert paths == [main, other, agent]
    want = serial(paths)
    assert want.outcomes["rejected"] == 122 and len(want.rejections) == 100
    assert [r.path for r in want.rejections] == [str(main)] * 60 + [str(other)] * 40
    for jobs in (1, 2):
        got, _ = parse_parallel(paths, job(), jobs=jobs)
        assert got.rejections == want.rejections
        assert got.outcomes["rejected"] == 122


@given(
    st.lists(st.sampled_from([b"{}", b"a", b"\n", b"\n", b" ", b"\r", b"\t", b"\x0b", b"\x0c"]), max_size=30)
)
def test_the_fast_line_count_is_the_count_of_non_blank_lines(parts: list[bytes]) -> None:
    data = b"{" + b"".join(parts)
    nonblank = [raw for raw in data.split(b"\n") if raw.rstrip(b"\r").strip()]
    assert _lines(data) == len(nonblank)


# --- seeded random trees of edited transcript lines ---------------------------------------

EDITS = (
    lambda line: line,
    lambda line: line,
    lambda line: line,
    lambda line: line.replace(b'"usage":{', b'"us\\u0061ge":{', 1),
    lambda line: line.replace(b'"timestamp":"2026-01-06T', b'"timestamp":"2026-01-07T', 1),
    lambda line: line.replace(b'"timestamp":"2026-01-06T', b'"timestamp":"9999-01-06T', 1),
    lambda line: line.replace(b'"timestamp":"2026-01-06T09', b'"timestamp":"2026-01-06T23', 1),
    lambda line: line.replace(b'"isSidechain":false', b'"isSidechain":true', 1),
    lambda line: line.replace(b'"isSidechain":false', b'"agentId":"x1","isSidechain":true', 1),
    lambda line: line.replace(b'"requestId":"req_', b'"requestId":"', 1),
    lambda line: line.replace(b'"id":"msg_', b'"id":"msg_x', 1),
    lambda line: line.replace(b'"model":"claude-opus-4-5-20251101"', b'"model":"claude-sonnet-4-5"', 1),
    lambda line: line.replace(b'"model":"claude-opus-4-5-20251101"', b'"model":"house-model"', 1),
    lambda line: line.replace(b'"model":"claude-opus-4-5-20251101"', b'"model":"<synthetic>"', 1),
    lambda line: line.replace(b'"output_tokens":', b'"output_tokens":1', 1),
    lambda line: line.replace(b'"cache_read_input_tokens":', b'"cache_read_input_tokens":2', 1),
    lambda line: line.replace(b'"sessionId":"', b'"costUSD":0.01,"sessionId":"', 1),
    lambda line: line.replace(b'"sessionId":"', b'"isApiErrorMessage":true,"sessionId":"', 1),
    lambda line: line[: len(line) // 2],
    lambda line: b"  " + line + b"\r",
    lambda line: line + b"\r\r",
    lambda line: b"",
)


@pytest.fixture(params=["native", "python"])
def scan_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The fast route's whole-file scan: native (schemas/_pruned_json.c) or Python."""
    if request.param == "python":
        monkeypatch.setattr(pruned, "native_scan", None)
    return str(request.param)


def random_tree(root: Path, seed: int, pool: list[bytes]) -> list[Path]:
    rnd = random.Random(seed)
    sessions = [f"s-{seed}-{i}" for i in range(3)]
    for index in range(rnd.randint(1, 5)):
        session = rnd.choice(sessions)
        project = rnd.choice(["-a", "-b"])
        where = rnd.choice(
            [
                f"{project}/{session}.jsonl",
                f"{project}/{session}.jsonl",
                f"{project}/{session}/subagents/agent-{index}.jsonl",
                f"{project}/copy-{index}.jsonl",
            ]
        )
        lines = []
        for line in rnd.sample(pool, rnd.randint(1, 40)):
            line = line.replace(SESSION.encode(), session.encode())
            if "subagents" in where:
                line = line.replace(
                    b'"isSidechain":false', f'"isSidechain":true,"agentId":"{index}"'.encode()
                )
            if rnd.random() < 0.3:
                line = rnd.choice(EDITS)(line)
            lines.append(line)
        end = b"\r\n" if rnd.random() < 0.2 else b"\n"
        path = root / where
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as out:
            out.write(end.join(lines) + end)
    return expand_paths([str(root)])


@pytest.mark.parametrize("seed", range(40))
def test_random_trees_of_edited_lines_are_parsed_exactly(
    tmp_path: Path, transcript: bytes, seed: int, scan_route: str
) -> None:
    pool = [line for line in transcript.split(b"\n") if line.strip()]
    paths = random_tree(tmp_path, seed, pool)
    want = serial(paths)
    for check_all in (False, True):
        got, _ = parse_parallel(paths, job(check_all=check_all), jobs=1)
        where = f"seed={seed} check_all={check_all} route={scan_route}"
        assert got.sessions == want.sessions, where
        assert got.outcomes["usage"] == want.outcomes["usage"], where
        assert lines_of(got) == lines_of(want), where
        assert list(got.files.items()) == list(want.files.items()), where
        assert got.unpriced.counts == want.unpriced.counts, where
        if check_all:
            assert (got.outcomes, got.rejections) == (want.outcomes, want.rejections), where


# --- the fast route decodes exactly the lines the transcript prefilter keeps -------------


@pytest.mark.parametrize("seed", range(12))
def test_the_fast_scan_decodes_what_the_prefilter_keeps(
    tmp_path: Path, transcript: bytes, seed: int, scan_route: str
) -> None:
    """``_FastGroup._scan`` applies schemas/sources/prefilter.py's rule to a whole file at once
    (``usage`` lines holding ``assistant``, and lines with ``\\u`` between them); the lines it
    decodes are the ones ``prefilter_for`` keeps, line by line."""
    from schemas.sources.prefilter import prefilter_for
    from spendstream.local_parse import file_lines

    rng = random.Random(seed)
    edits = (
        lambda line: line,
        lambda line: line.replace(b'"usage"', b'"us\\u0061ge"', 1),
        lambda line: line.replace(b'"assistant"', b'"\\u0061ssistant"'),
        lambda line: line + b"\r",
        lambda line: line + b"\r\r",
        lambda line: b"",
        lambda line: b"  \t",
        lambda line: b'{"type":"user","text":"usage and assistant"}',
        lambda line: line[: len(line) // 2],
    )
    lines = [rng.choice(edits)(line) if rng.random() < 0.2 else line for line in transcript.split(b"\n")]
    path = write(tmp_path / "p" / f"{SESSION}.jsonl", b"\n".join(lines).lstrip() + b"\n")
    keeps = prefilter_for("claude-transcript")
    assert keeps is not None
    kept = sum(1 for _, line in file_lines(path) if keeps(line))
    job = ParseJob("auto", default_price_table(), "reported", "r")
    outcomes = parse_group([path], job).summary.outcomes
    try:
        assert outcomes["usage"] + outcomes["no_usage"] + outcomes["rejected"] == kept
        assert outcomes["skipped"] == sum(1 for _ in file_lines(path)) - kept
    except AssertionError:
        print(f"seed {seed} route {scan_route}")
        raise
