"""Whatever a client sends, the answer is a coded 4xx, never a 500."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ageverify.errors import CODES

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)

ENDPOINTS = {
    "/v1/credentials": ("attestation", "holder_keys"),
    "/v1/presentations/verify": ("presentation", "audience", "nonce", "min_age", "max_age"),
}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(ENDPOINTS)),
    members=st.dictionaries(
        st.sampled_from(
            [
                "attestation",
                "holder_keys",
                "presentation",
                "audience",
                "nonce",
                "min_age",
                "max_age",
            ]
        ),
        json_values,
        max_size=5,
    ),
)
def test_json_bodies_of_any_shape(client: FlaskClient, path: str, members: dict[str, Any]) -> None:
    response = client.post(path, json=members)
    assert 400 <= response.status_code < 500
    assert response.json["code"] in CODES


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(sorted(ENDPOINTS)), body=st.binary(max_size=300))
def test_raw_bytes(client: FlaskClient, path: str, body: bytes) -> None:
    response = client.post(path, data=body, content_type="application/json")
    assert 400 <= response.status_code < 500
    assert response.json["code"] in CODES


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.text(alphabet="abcXYZ019-_.~=+/ ", max_size=200))
def test_token_shaped_strings(client: FlaskClient, token: str) -> None:
    issued = client.post("/v1/credentials", json={"attestation": token, "holder_keys": [{}]})
    verified = client.post(
        "/v1/presentations/verify",
        json={"presentation": token, "audience": "a", "nonce": "n", "min_age": 18},
    )
    for response in (issued, verified):
        assert 400 <= response.status_code < 500, response.json
        assert response.json["code"] in CODES
