"""The gate's decisions that need no web framework: requirements, what a stored proof
says about one, and which paths may be gone back to."""

from __future__ import annotations

import pytest

from ageverify.platform.core import (
    Requirement,
    contradicts,
    is_local_path,
    local_path,
    parse_age_authorization,
    satisfies,
)

ADULT_18 = {"age_over_18": True}
TEEN = {"age_over_13": True, "age_over_18": False}
OVER_21 = {"age_over_21": True}
UNDER_16 = {"age_over_16": False}


@pytest.mark.parametrize(
    ("facts", "requirement", "satisfied", "contradicted"),
    [
        (ADULT_18, Requirement(min_age=18), True, False),
        (ADULT_18, Requirement(min_age=13, max_age=17), False, True),
        (ADULT_18, Requirement(min_age=21), False, False),
        (ADULT_18, Requirement(max_age=15), False, True),
        (OVER_21, Requirement(min_age=13, max_age=17), False, True),
        (TEEN, Requirement(min_age=13, max_age=17), True, False),
        (TEEN, Requirement(min_age=18), False, True),
        (TEEN, Requirement(min_age=21), False, True),
        (TEEN, Requirement(min_age=16), False, False),
        (UNDER_16, Requirement(min_age=16), False, True),
        (UNDER_16, Requirement(min_age=15), False, False),
        ({}, Requirement(min_age=18), False, False),
    ],
)
def test_what_stored_facts_say_about_a_requirement(
    facts: dict[str, bool], requirement: Requirement, satisfied: bool, contradicted: bool
) -> None:
    assert satisfies(facts, requirement) is satisfied
    assert contradicts(facts, requirement) is contradicted


def test_requirements_in_words_and_claims() -> None:
    assert Requirement(min_age=13, max_age=17).claims == {"age_over_13": True, "age_over_18": False}
    assert Requirement(min_age=18).describe() == "18 or older"
    assert Requirement(min_age=13, max_age=17).describe() == "13 to 17"
    assert Requirement(max_age=17).describe() == "17 or younger"


@pytest.mark.parametrize(
    ("script_root", "path", "query", "expected"),
    [
        ("", "/rooms/adult", b"", "/rooms/adult"),
        ("", "/rooms/adult", b"a=1&b=%20", "/rooms/adult?a=1&b=%20"),
        ("", "//evil.example/x", b"", "/evil.example/x"),
        ("", "/\\evil.example", b"", "/evil.example"),
        ("", "/\\/evil.example", b"", "/evil.example"),
        ("", "/a b/ü", b"", "/a%20b/%C3%BC"),
        ("", "/x", b"next=//evil.example", "/x?next=//evil.example"),
        ("", "/x", b"a=\\b", "/x"),
        ("", "/x", b"a=\xff", "/x"),
        ("", "/x", b"a b", "/x"),
        ("/chat", "/rooms/adult", b"", "/chat/rooms/adult"),
        ("", "/" + "x" * 300, b"", "/"),
        ("/chat", "/" + "x" * 300, b"", "/chat"),
    ],
)
def test_local_path(script_root: str, path: str, query: bytes, expected: str) -> None:
    assert local_path(script_root, path, query) == expected
    assert is_local_path(expected)


@pytest.mark.parametrize(
    "value",
    ["//evil.example", "/\\evil.example", "https://evil.example/", "evil", "", "/a b", None, 7],
)
def test_not_local_paths(value: object) -> None:
    assert not is_local_path(value)


def test_age_authorization_parameters() -> None:
    assert parse_age_authorization('AgeCredential presentation="a.b.c~d~", nonce="n-1_"') == (
        "a.b.c~d~",
        "n-1_",
    )
    assert parse_age_authorization('agecredential nonce = "n" , presentation="p"') == ("p", "n")
