"""spendstream's three kinds of failure, decided in one place.

- **Terminal** (:class:`TerminalError`): this input can never be processed, whatever we
  retry: a line that is not its format, a record whose headers or packing are invalid, a
  delta whose application would take a total out of its range. The input goes to the
  dead-letter topic with its original bytes, this ``reason`` and its source position; it
  is counted, and the stage goes on with the next input. A reason never quotes the input.
- **Transient**: the broker or the disk is in trouble (a Kafka error, an ``OSError``). The
  same work is retried with backoff and never dropped; the input is never dead-lettered
  for it.
- **Bug**: anything else. The worker stops (fail-stop) without committing, so the restart
  replays the batch; the pure stages are property-tested so that no input reaches here.

Pure code (schemas/, the worker's stages) raises only :class:`TerminalError` subclasses
for bad input; the worker's runner (streams/runner/) applies the taxonomy.
"""

from __future__ import annotations


class TerminalError(ValueError):
    """This input can never be processed; ``reason`` says why without quoting it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
