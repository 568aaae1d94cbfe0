"""JSON request bodies as hookrelay accepts them: what is parsed here can be stored, signed
and delivered as valid JSON, so the checks run once, before any schema sees the body.

Each check has a fast path that costs a substring search on the raw text, because every
ingest request runs through here; only bodies that could break a rule are walked.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from app.errors import APIError, invalid

MAX_DEPTH = 128  # containers within containers; serde_json's default recursion limit
# `\uD800` to `\uDFFF`: only such an escape can make a surrogate (strict UTF-8 cannot).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_refuse_constant)


def loads(raw: bytes, whole: bool = True) -> Any:
    """Parse a body as strict JSON or raise a 400 that says what is wrong.

    Strict UTF-8 (no encoded surrogates), finite numbers only (no NaN, Infinity or 1e999),
    no lone surrogate escapes (`"\\ud800"`), and at most MAX_DEPTH levels of nesting.
    `whole=False` leaves lone surrogates to the parts of the body that are checked on
    their own (each operation of a REST batch), so one bad part fails alone.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid("request body must be UTF-8 encoded JSON") from None
    try:
        data = _DECODER.decode(text.removeprefix("\ufeff"))
    except RecursionError:
        raise _too_deep() from None
    except ValueError as exc:
        raise invalid(f"malformed JSON: {exc}") from exc
    deep = text.count("[") + text.count("{") > MAX_DEPTH
    if deep or (whole and "\\u" in text and SURROGATE_ESCAPE.search(text)):
        _walk(data, whole)
    return data


def _walk(data: Any, unicode: bool = True) -> None:
    """Check depth and strings without recursion, naming where a lone surrogate sits."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if isinstance(value, str):
            if unicode:
                _unicode(value, where)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            raise _too_deep()
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            path = f"{where}.{key}" if where else str(key)
            if unicode and isinstance(key, str):
                _unicode(key, path)
            stack.append((item, path, depth + 1))


def _unicode(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        place = where.encode("utf-8", "backslashreplace").decode()[:200] or "body"
        raise invalid(f"'{place}': lone surrogate, not valid Unicode") from None


def _too_deep() -> APIError:
    return invalid(f"request body is nested deeper than {MAX_DEPTH} levels")
