"""Never silently zero: which events went unpriced, named by model, counted once each.

An event is unpriced (``cost_source == "unpriced"``, cost 0) when no cost was reported and
the price table does not know its model, or names no model at all (``codex exec --json``
names none: its producer adds ``--label model=...``), or the cost mode forbids computing.
Its tokens are kept; only its cost is missing, and every output says so:

- :meth:`UnpricedTally.add` returns True the first time a model is seen unpriced, so a
  process (the worker, ``parse``) warns once per model: :func:`unpriced_warning`;
- :meth:`UnpricedTally.footer` is the line under every text report:
  ``3 events unpriced: claude-imaginary-9``;
- :meth:`UnpricedTally.as_json` gives ``unpriced_events`` and ``unpriced_models`` for JSON.

Pure: counts in, text out; the caller decides where a warning goes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.pricing import PriceTable
from schemas.usage import UsageEvent

# The model name of an event that names none (the key of its count).
NO_MODEL = "(no model)"


def model_key(model: str | None) -> str:
    """The name an unpriced event is counted under."""
    return model or NO_MODEL


@dataclass
class UnpricedTally:
    """Unpriced events per model (``NO_MODEL`` for events naming none)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, event: UsageEvent) -> bool:
        """Count ``event`` if unpriced; True when it is its model's first unpriced event."""
        if event.cost_source != "unpriced":
            return False
        return self.add_model(event.model)

    def add_model(self, model: str | None, events: int = 1) -> bool:
        """Count ``events`` unpriced events of ``model``; True when the model is new here."""
        key = model_key(model)
        first = key not in self.counts
        self.counts[key] += events
        return first

    def merge(self, counts: Mapping[str | None, int]) -> None:
        """Add counts from elsewhere (e.g. a lake query of unpriced events per model)."""
        for model, events in counts.items():
            self.add_model(model, events)

    @property
    def events(self) -> int:
        return sum(self.counts.values())

    @property
    def models(self) -> list[str]:
        """Unpriced models, most events first, then by name."""
        return sorted(self.counts, key=lambda m: (-self.counts[m], m))

    def footer(self) -> str | None:
        """``3 events unpriced: claude-imaginary-9, (no model)``; None when nothing is."""
        if not self.counts:
            return None
        noun = "event" if self.events == 1 else "events"
        return f"{self.events:,} {noun} unpriced: {', '.join(self.models)}"

    def as_json(self) -> dict[str, Any]:
        """``{"unpriced_events": 3, "unpriced_models": ["claude-imaginary-9"]}``."""
        return {"unpriced_events": self.events, "unpriced_models": self.models}


def unpriced_warning(model: str | None, prices: PriceTable) -> str:
    """The one warning a process gives for a model's first unpriced event (no prefix)."""
    if not model:
        return (
            "events name no model and are unpriced (cost 0, tokens kept); "
            "for codex exec --json, publish with --label model=NAME"
        )
    if prices.history(model) is None:
        return (
            f"model {model[:100]!r} has no price (events kept with cost 0); "
            "add it with SPENDSTREAM_PRICES_FILE, see `spendstream prices`"
        )
    return f"events of model {model[:100]!r} are unpriced (cost 0): the cost mode does not compute costs"
