"""Strict JSON: one meaning per text, or a coded refusal."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ageverify.errors import AgeVerifyError
from ageverify.formats import strictjson


def code_of(data: bytes | str, **kwargs: int) -> str:
    with pytest.raises(AgeVerifyError) as caught:
        strictjson.loads(data, **kwargs)
    return caught.value.code


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b'{"a":1,"a":2}', "json-duplicate-member"),
        (b'{"a":{"b":1,"b":1}}', "json-duplicate-member"),
        (b'[{"x":1,"y":2,"x":3}]', "json-duplicate-member"),
        (b"NaN", "json-invalid"),
        (b'{"a":Infinity}', "json-invalid"),
        (b"[-Infinity]", "json-invalid"),
        (b"1e400", "json-invalid"),
        (b"[-1e400]", "json-invalid"),
        (b"", "json-invalid"),
        (b"   ", "json-invalid"),
        (b"{", "json-invalid"),
        (b'{"a":1}x', "json-invalid"),
        (b'{"a":1} {"b":2}', "json-invalid"),
        (b"'a'", "json-invalid"),
        (b'{"a":1,}', "json-invalid"),
        (b'"\\ud800"', "json-invalid"),
        (b'{"\\udc00":1}', "json-invalid"),
        (b'["ok","\\ud83d"]', "json-invalid"),
        (b'"\x01"', "json-invalid"),
        (b"1" * 5000, "json-invalid"),
        (b'"\xff"', "json-not-utf8"),
        (b'"\xc0\xaf"', "json-not-utf8"),
        (b'"\xed\xa0\x80"', "json-not-utf8"),
        (b'\xef\xbb\xbf{"a":1}', "json-not-utf8"),
        (b"[" * 17 + b"]" * 17, "json-too-deep"),
        (b'{"a":' * 17 + b"1" + b"}" * 17, "json-too-deep"),
        (b"[" * 100_000 + b"]" * 100_000, "json-too-deep"),
    ],
)
def test_refusals(data: bytes, code: str) -> None:
    assert code_of(data) == code


def test_str_with_a_raw_lone_surrogate_is_refused() -> None:
    assert code_of('"\ud800"') == "json-invalid"


def test_str_with_a_bom_is_refused() -> None:
    assert code_of('\ufeff{"a":1}') == "json-invalid"


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1}',
        b' {"a" : [1, 2.5, "x", true, false, null]}\n',
        b'"\\ud83d\\ude00"',
        '"caf\u00e9"'.encode(),
        b'{"a":"[[[[[[[[[[[[[[[[[[[[[["}',
        b"[" * 16 + b"]" * 16,
        b"-0",
        b"1e308",
    ],
)
def test_accepted(data: bytes) -> None:
    assert strictjson.loads(data) == json.loads(data)


def test_bracket_characters_in_strings_do_not_count_as_depth() -> None:
    text = '{"a":"' + "[" * 100 + '"}'
    assert strictjson.loads(text) == {"a": "[" * 100}


def test_max_depth_is_configurable() -> None:
    assert strictjson.loads(b"[[1]]", max_depth=2) == [[1]]
    assert code_of(b"[[[1]]]", max_depth=2) == "json-too-deep"


def test_valid_surrogate_pair_decodes_to_one_character() -> None:
    assert strictjson.loads(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_loads_accepts_bytearray_and_refuses_other_types() -> None:
    assert strictjson.loads(bytearray(b"[1]")) == [1]
    with pytest.raises(TypeError):
        strictjson.loads(1)  # type: ignore[arg-type]


def test_dumps_is_compact_utf8() -> None:
    assert strictjson.dumps({"b": 1, "a": ["é", True]}) == '{"b":1,"a":["é",true]}'.encode()


def test_canonical_sorts_members() -> None:
    assert strictjson.canonical({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'


def test_dumps_refuses_nan() -> None:
    with pytest.raises(ValueError):
        strictjson.dumps(float("nan"))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_round_trip(value: object) -> None:
    assert strictjson.loads(strictjson.dumps(value)) == value
    assert strictjson.loads(strictjson.canonical(value)) == value


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _has_lone_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return any(map(_has_lone_surrogate, value)) or any(map(_has_lone_surrogate, value.values()))
    if isinstance(value, list):
        return any(map(_has_lone_surrogate, value))
    return False


# Strings that sometimes hold a lone surrogate; trees wide (many brackets, so
# the walk runs) and sometimes deeper than a max_depth of 4.
_strings = st.text(max_size=3) | st.sampled_from(["\ud800", "a\udfff", "\U0001f600"])
_trees = st.recursive(
    st.integers() | _strings,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(_strings, children, max_size=6)
    ),
    max_leaves=40,
)


@given(_trees, st.booleans())
def test_depth_and_lone_surrogates_are_refused_wherever_they_are(
    value: object, as_str: bool
) -> None:
    # \u escapes in bytes, raw characters in a str: both reach the walk.
    data: bytes | str = (
        json.dumps(value, ensure_ascii=False) if as_str else json.dumps(value).encode()
    )
    too_deep = _depth(value) > 4
    lone = _has_lone_surrogate(value)
    if not too_deep and not lone:
        assert strictjson.loads(data, max_depth=4) == value
    elif too_deep and not lone:
        assert code_of(data, max_depth=4) == "json-too-deep"
    elif lone and not too_deep:
        assert code_of(data, max_depth=4) == "json-invalid"
    else:
        assert code_of(data, max_depth=4) in ("json-too-deep", "json-invalid")
