"""The seam between the stream and the identity ledger (``schemas.ledger``).

``apply(observation, context, get, writes)`` returns the usage deltas of one observation
and records the identity's new state in ``writes`` (key -> bytes), reading earlier state
through ``get``. Interim rule until the full ledger lands: per identity, the largest
count of each field wins; only growth is emitted.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson

from schemas.money import ZERO_USD, to_usd, usd_str
from schemas.sources import LineContext, Observation
from schemas.usage import TOKEN_FIELDS, TokenCounts, UsageEvent, event_id_for


def apply(
    observation: Observation,
    context: LineContext,
    get: Callable[[str], bytes | None],
    writes: dict[str, bytes],
) -> list[UsageEvent]:
    key = observation.identity
    previous = get(key)
    old = orjson.loads(previous) if previous is not None else {}
    old_tokens = {n: int(old.get(n, 0)) for n in TOKEN_FIELDS}
    new_tokens = {n: max(old_tokens[n], getattr(observation.tokens, n)) for n in TOKEN_FIELDS}
    old_cost = to_usd(old.get("cost", "0"))
    reported = observation.reported_cost_usd
    new_cost = max(old_cost, reported) if reported is not None else old_cost
    if new_tokens == old_tokens and new_cost == old_cost:
        return []
    writes[key] = orjson.dumps({**new_tokens, "cost": usd_str(new_cost)})
    delta = TokenCounts(**{n: new_tokens[n] - old_tokens[n] for n in TOKEN_FIELDS})
    fingerprint = ",".join(str(new_tokens[n]) for n in TOKEN_FIELDS) + f",{usd_str(new_cost)}"
    return [
        UsageEvent(
            event_id=event_id_for(key, fingerprint),
            source=context.source,
            runner_id=context.runner_id,
            session_id=observation.session_id,
            lineage=observation.lineage,
            agent_id=observation.agent_id,
            model=observation.model,
            event_time=observation.event_time,
            tokens=delta,
            cost_usd=new_cost - old_cost if reported is not None else ZERO_USD,
            cost_source="reported" if reported is not None else "unpriced",
            auth_mode=observation.auth_mode,
            labels=context.labels,
        )
    ]
