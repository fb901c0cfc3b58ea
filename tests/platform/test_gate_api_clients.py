"""API clients of an AgeGate: the 401 challenge answered by ``Holder.answer`` with the
``AgeCredential`` scheme, the retry with ``Authorization``, and what is refused."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from gate_support import API, AUDIENCE, BROWSER, ORIGIN, Issuer, chat_app, session_of

from ageverify.errors import AgeVerifyError
from ageverify.sdk import Holder


@pytest.fixture
def app(issuer: Issuer) -> Flask:
    return chat_app(issuer)[0]


@pytest.fixture
def api(app: Flask) -> FlaskClient:
    return app.test_client()


def challenge(client: FlaskClient, path: str) -> str:
    response = client.get(path, headers=API)
    assert response.status_code == 401
    return response.headers["WWW-Authenticate"]


def test_holder_answers_the_challenge_and_the_retry_enters(
    app: Flask, api: FlaskClient, adult: Holder
) -> None:
    authorization = adult.answer(challenge(api, "/rooms/adult"), origin=ORIGIN)
    assert authorization.startswith('AgeCredential presentation="')
    response = api.get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert response.status_code == 200
    assert response.json is not None and response.json["proof"]["facts"] == {"age_over_18": True}
    # The proof is kept in the session too: the next request needs no Authorization.
    assert set(session_of(app, api)) == {"ageverify"}
    assert api.get("/rooms/adult", headers=API).status_code == 200


def test_holder_answers_a_13_to_17_challenge(api: FlaskClient, teen: Holder) -> None:
    authorization = teen.answer(challenge(api, "/rooms/teen"), origin=ORIGIN)
    response = api.get("/rooms/teen", headers={**API, "Authorization": authorization})
    assert response.status_code == 200
    assert response.json is not None
    assert response.json["proof"]["facts"] == {"age_over_13": True, "age_over_18": False}


def test_a_teen_answer_to_the_adult_room_is_403(api: FlaskClient, teen: Holder) -> None:
    authorization = teen.answer(challenge(api, "/rooms/adult"), origin=ORIGIN)
    response = api.get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert response.status_code == 403
    assert response.json is not None and response.json["code"] == "requirement-not-met"
    assert "WWW-Authenticate" not in response.headers


def test_a_replayed_authorization_is_refused_with_a_fresh_challenge(
    app: Flask, api: FlaskClient, adult: Holder
) -> None:
    authorization = adult.answer(challenge(api, "/rooms/adult"), origin=ORIGIN)
    assert api.get("/rooms/adult", headers={"Authorization": authorization}).status_code == 200
    replay = app.test_client().get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert replay.status_code == 401
    assert replay.json is not None and replay.json["code"] == "nonce-reused"
    assert replay.headers["WWW-Authenticate"].startswith('AgeCredential realm="age"')


def test_an_answer_for_another_room_requirement_is_refused(api: FlaskClient, adult: Holder) -> None:
    # The adult room's challenge answered, then sent to the teen room: age_over_18
    # is disclosed, age_over_13 is not.
    authorization = adult.answer(challenge(api, "/rooms/adult"), origin=ORIGIN)
    response = api.get("/rooms/teen", headers={**API, "Authorization": authorization})
    assert response.status_code in (401, 403)
    assert response.json is not None
    assert response.json["code"] in ("requirement-not-disclosed", "requirement-not-met")


@pytest.mark.parametrize(
    "authorization",
    [
        "AgeCredential",
        "AgeCredential presentation=x, nonce=y",
        'AgeCredential presentation="x"',
        'AgeCredential nonce="y"',
        'AgeCredential presentation="x", nonce="y", nonce="z"',
        'AgeCredential presentation="x", nonce=""',
        'AgeCredential presentation="a\\"b", nonce="y"',
        'AgeCredential presentation="x" nonce="y"',
        'AgeCredential presentation="x", nonce="y", extra="z"',
        'PrivateToken token="AAAA"',
    ],
)
def test_malformed_authorizations_are_refused(api: FlaskClient, authorization: str) -> None:
    response = api.get("/rooms/adult", headers={**API, "Authorization": authorization})
    assert response.status_code == 401
    assert response.json is not None
    assert response.json["code"] == "age-authorization-malformed"
    assert response.headers["WWW-Authenticate"].startswith("AgeCredential ")


def test_an_unknown_nonce_is_refused(api: FlaskClient, adult: Holder) -> None:
    presentation = adult.present(AUDIENCE, "made-up-nonce", min_age=18)
    response = api.get(
        "/rooms/adult",
        headers={
            **API,
            "Authorization": f'AgeCredential presentation="{presentation}", nonce="made-up-nonce"',
        },
    )
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "nonce-unknown"


def test_another_authorization_scheme_is_left_to_the_application(api: FlaskClient) -> None:
    response = api.get("/rooms/adult", headers={**API, "Authorization": "Bearer abc"})
    assert response.status_code == 401
    assert response.json is not None and response.json["code"] == "age-proof-required"


def test_a_browser_with_an_authorization_is_let_in(api: FlaskClient, adult: Holder) -> None:
    authorization = adult.answer(challenge(api, "/rooms/adult"), origin=ORIGIN)
    response = api.get("/rooms/adult", headers={**BROWSER, "Authorization": authorization})
    assert response.status_code == 200


# --- Holder.answer and the AgeCredential scheme ---------------------------------------


def test_holder_will_not_answer_for_another_origin(api: FlaskClient, adult: Holder) -> None:
    header = challenge(api, "/rooms/adult")
    with pytest.raises(AgeVerifyError) as refused:
        adult.answer(header, origin="127.0.0.1:8102")
    assert refused.value.code == "age-challenge-unusable"


@pytest.mark.parametrize(
    "header",
    [
        'AgeCredential realm="age", audience="http://127.0.0.1:8101", nonce="n"',
        'AgeCredential realm="age", nonce="n", min_age="18"',
        'AgeCredential realm="age", audience="http://127.0.0.1:8101", min_age="18"',
        'AgeCredential audience="http://127.0.0.1:8101", nonce="n", min_age="eighteen"',
        'AgeCredential audience="http://127.0.0.1:8101", nonce="n n", min_age="18"',
        'AgeCredential audience="http://127.0.0.1:8101", nonce="n", min_age="18", min_age="13"',
        'AgeCredential audience="http://[::1", nonce="n", min_age="18"',
    ],
)
def test_holder_leaves_unusable_challenges(adult: Holder, header: str) -> None:
    with pytest.raises(AgeVerifyError) as refused:
        adult.answer(header)
    assert refused.value.code == "age-challenge-unusable"


def test_holder_picks_the_age_credential_challenge_among_others(adult: Holder) -> None:
    header = (
        'Basic realm="x", AgeCredential realm="age", audience="http://127.0.0.1:8101", '
        'nonce="abc", min_age="18"'
    )
    authorization = adult.answer(header, origin=ORIGIN)
    assert authorization.endswith(', nonce="abc"')


def test_holder_without_an_age_credential_challenge_keeps_the_token_code(adult: Holder) -> None:
    with pytest.raises(AgeVerifyError) as refused:
        adult.answer('Basic realm="x"')
    assert refused.value.code == "token-challenge-unusable"
