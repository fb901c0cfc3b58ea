"""Strict JSON for tokens: one meaning per text, or a coded refusal.

The standard library's parser accepts inputs that different parsers read
differently: repeated member names (which one wins?), ``NaN``, numbers too
large for a double, lone UTF-16 surrogates, and nesting deep enough to exhaust
the stack. An attacker who gets two components to read one token two ways
wins, so every token part in ageverify goes through :func:`loads`, which
refuses all of these with a stable error code.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ageverify.errors import AgeVerifyError

__all__ = ["DEFAULT_MAX_DEPTH", "canonical", "dumps", "loads"]

DEFAULT_MAX_DEPTH = 16

_SURROGATE = re.compile("[\ud800-\udfff]")


class _Refusal(Exception):
    """Raised from inside the parser's hooks; turned into a coded error by loads."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _Refusal("json-duplicate-member")
    return obj


def _refuse_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON (RFC 8259 section 6).
    raise _Refusal("json-invalid")


def _finite_float(text: str) -> float:
    value = float(text)
    # 1e400 parses to inf: a number no other party reads the same way.
    if not math.isfinite(value):
        raise _Refusal("json-invalid")
    return value


_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_members,
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
)
# The C scanner behind JSONDecoder.decode, called directly: decode() adds two
# regex matches and a Python frame per token part.
_scan_once = _DECODER.scan_once  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SPACE = frozenset(" \t\n\r")


def _check_tree(value: Any, max_depth: int, check_surrogates: bool) -> None:
    """Walk ``value`` iteratively, refusing deep nesting and lone surrogates.

    Only arrays and objects go on the stack; the strings in them are looked
    at where they are met: a body of thirty small objects is walked in a
    fraction of the time it takes to stack every member. The parser makes
    plain ``dict``, ``list`` and ``str`` only, so exact type tests suffice
    (and cost half of ``isinstance``).
    """
    kind = type(value)
    if kind is str:
        if check_surrogates and _SURROGATE.search(value):
            raise _Refusal("json-invalid")
        return
    if kind is not dict and kind is not list:
        return
    # (array or object, its depth: 1 for the outermost)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise _Refusal("json-too-deep")
        if type(item) is dict:
            if check_surrogates and any(_SURROGATE.search(key) for key in item):
                raise _Refusal("json-invalid")
            members: Any = item.values()
        else:
            members = item
        inner = depth + 1
        for member in members:
            kind = type(member)
            if kind is dict or kind is list:
                stack.append((member, inner))
            elif check_surrogates and kind is str and _SURROGATE.search(member):
                raise _Refusal("json-invalid")


def loads(data: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse one JSON text strictly.

    ``data`` is either ``bytes``, which must be UTF-8 without a byte order mark
    (else ``json-not-utf8``), or ``str``. Repeated member names raise
    ``json-duplicate-member``; ``NaN``, ``Infinity``, out-of-range numbers, lone
    surrogates and syntax errors raise ``json-invalid``; arrays and objects
    nested more than ``max_depth`` levels raise ``json-too-deep``. Every refusal
    is an :class:`~ageverify.errors.AgeVerifyError`.
    """
    if type(data) is bytes or isinstance(data, bytes | bytearray | memoryview):
        raw = data if type(data) is bytes else bytes(data)
        if raw[:3] == b"\xef\xbb\xbf":
            raise AgeVerifyError("json-not-utf8", "A JSON text must not start with a BOM.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise AgeVerifyError("json-not-utf8") from None
        from_bytes = True
    elif isinstance(data, str):
        text = data
        from_bytes = False
    else:
        raise TypeError("loads() takes bytes or str")
    try:
        # Token parts never start or end with whitespace: skip the regex then.
        start = _WHITESPACE.match(text).end() if text[:1] in _SPACE else 0  # type: ignore[union-attr]
        value, end = _scan_once(text, start)
        if end != len(text) and _WHITESPACE.match(text, end).end() != len(text):  # type: ignore[union-attr]
            raise AgeVerifyError("json-invalid", "A JSON text holds one value.")
    except _Refusal as refusal:
        raise AgeVerifyError(refusal.code) from None
    except RecursionError:
        raise AgeVerifyError("json-too-deep") from None
    except (StopIteration, ValueError):
        # StopIteration: no value where one must start. ValueError: JSONDecodeError,
        # and int() refusing more digits than sys.set_int_max_str_digits.
        raise AgeVerifyError("json-invalid") from None
    # A str may carry raw surrogates; decoded bytes can only get them through
    # \u escapes. Counting brackets bounds the depth from above, so small
    # token parts skip the walk entirely.
    check_surrogates = not from_bytes or "\\u" in text
    may_be_deep = text.count("[") + text.count("{") > max_depth
    if check_surrogates or may_be_deep:
        try:
            _check_tree(value, max_depth, check_surrogates)
        except _Refusal as refusal:
            raise AgeVerifyError(refusal.code) from None
    return value


def dumps(obj: Any) -> bytes:
    """Serialise ``obj`` as compact UTF-8 JSON (no spaces, non-ASCII kept as is)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def canonical(obj: Any) -> bytes:
    """Serialise ``obj`` like :func:`dumps`, with object members sorted by name.

    Used where two parties must produce the same bytes for the same value,
    such as transparency log leaves.
    """
    return json.dumps(
        obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    ).encode("utf-8")
