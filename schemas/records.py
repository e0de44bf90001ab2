"""``dataclasses.replace`` for the worker's hot paths, in about half its time.

``dataclasses.replace`` walks the class's fields on every call, checking each one's kind,
and calls the class with keywords: about 3 us for a LineContext, which normalize replaces
for every line of a packed record and for every observation's auth mode (about 6 % of a
backfill's worker time). :func:`replaced` reads the fields with one ``attrgetter`` and calls
the class positionally, which is the same call when the generated ``__init__`` takes
exactly the fields, in order, as positional-or-keyword parameters: it checks that once per
class, and any class that does not qualify (an ``init=False`` or keyword-only field, an
``InitVar``, an ``__init__`` of its own) and any unknown field name go through
``dataclasses.replace`` itself, errors included. ``__init__`` and ``__post_init__`` run
as before, so every check a record makes still runs.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar

_T = TypeVar("_T")

_Plan = tuple[Callable[[Any], tuple[Any, ...]], dict[str, int]]
_PLANS: dict[type, _Plan | None] = {}


def _plan(cls: type) -> _Plan | None:
    """How to read ``cls``'s fields and where each goes positionally; None if it cannot."""
    if not dataclasses.is_dataclass(cls):
        return None
    fields = dataclasses.fields(cls)
    if len(fields) < 2 or len(fields) != len(cls.__dataclass_fields__):
        return None  # one field (attrgetter would not give a tuple), or InitVar/ClassVar pseudo-fields
    if any(not f.init or f.kw_only for f in fields):
        return None
    try:
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return None
    names = [f.name for f in fields]
    if [p.name for p in parameters] != names or any(
        p.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD for p in parameters
    ):
        return None
    return attrgetter(*names), {name: index for index, name in enumerate(names)}


def replaced(obj: _T, /, **changes: Any) -> _T:
    """``dataclasses.replace(obj, **changes)``, the same object made the same way."""
    cls = type(obj)
    try:
        plan = _PLANS[cls]
    except KeyError:
        plan = _PLANS[cls] = _plan(cls)
    if plan is None:
        return dataclasses.replace(obj, **changes)  # type: ignore[type-var]
    read, index = plan
    values = list(read(obj))
    for name, value in changes.items():
        position = index.get(name)
        if position is None:
            return dataclasses.replace(obj, **changes)  # type: ignore[type-var]  # its error
        values[position] = value
    return cls(*values)
