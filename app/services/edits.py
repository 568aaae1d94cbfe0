"""Edits: each field of a change is a new value, or KEEP to leave the stored one as it is.

A marker rather than None, because None is a value for the fields that may be cleared (a
description, a cap): a change can then say "clear it" and "leave it" apart.
"""

from __future__ import annotations

from enum import Enum
from typing import Final


class Keep(Enum):
    """The type of KEEP, so a field's type reads `int | None | Keep`."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
