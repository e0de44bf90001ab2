"""The worker's garbage collector settings: fewer, shorter stop-the-world collections.

CPython's defaults (a young collection every 700 net allocations, a full one each time the
objects that survived grew by a quarter) suit short scripts, not a stage batch: a batch of
a few thousand records allocates hundreds of thousands of short-lived objects (records,
observations, events, outputs) that live until the batch ends. With a threshold of 700
they survive a few young collections, are promoted to the oldest generation and so count
towards the next full collection, which walks every object of the process (the imported
libraries and the stages' decoded-state caches) while the event loop stands still: in a
latency run (bench/RESULTS.md, issue 15) it measured 14 full collections in 35 s, of
110 ms to 660 ms each, growing with the heap; with these settings, 3 of at most 180 ms.

So the worker (1) collects once and freezes what start-up built (modules, Faust's and
aiokafka's objects: they live as long as the process, and a frozen object is never walked
again; reference counting still frees it), and (2) runs a young collection every
YOUNG_THRESHOLD allocations instead of 700, so a batch's temporaries are mostly gone
before a collection sees them. Cyclic garbage is still collected, only later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
OLD_THRESHOLD = 10


def tune_gc() -> None:
    """Freeze the objects built so far and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
