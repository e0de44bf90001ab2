"""Issue 12 item 5: a run that names no format and recognises nothing says so, once."""

from __future__ import annotations

from producers.lineage import Scope
from producers.run import OutputSeen, RunRequest, end_of_run_note

NOTE = "spendstream run: no usage lines recognised in the output of ./agent.sh; pass --format"


def request(*argv: str, quiet: bool = False) -> RunRequest:
    return RunRequest(argv or ("./agent.sh",), None, Scope("s-1"), quiet=quiet)


def test_nothing_named_and_nothing_recognised_is_said_once() -> None:
    assert end_of_run_note(request(), None, OutputSeen()) == NOTE


def test_the_program_is_named_but_never_its_arguments() -> None:
    # The arguments can be a prompt (claude -p "...") or a secret: stderr and CI logs keep neither.
    note = end_of_run_note(request("./agent.sh", "fix the bug", "--api-key=sk-123"), None, OutputSeen())
    assert note == "spendstream run: no usage lines recognised in the output of ./agent.sh; pass --format"


def test_no_note_when_a_format_was_known_or_found_or_quiet() -> None:
    assert end_of_run_note(request(), "claude-json", OutputSeen()) is None
    assert end_of_run_note(request(), None, OutputSeen(detected="claude-json")) is None
    assert end_of_run_note(request(quiet=True), None, OutputSeen()) is None


def test_no_note_when_a_nested_run_passed_lines_through() -> None:
    # That run published its lines or printed its own note: saying it twice would be wrong.
    assert end_of_run_note(request(), None, OutputSeen(nested_lines=True)) is None
