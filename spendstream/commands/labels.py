"""``--label KEY=VALUE``, as every command that takes labels reads it (a module of its own
so that reading a label imports nothing else)."""

from __future__ import annotations

import argparse
import re

_LABEL_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not _LABEL_KEY.match(key):
        raise argparse.ArgumentTypeError(f"a label is key=value with a key of [A-Za-z0-9_.-], got {text!r}")
    if len(value) > 512:
        raise argparse.ArgumentTypeError(f"label {key}: values are at most 512 characters")
    return key, value
