"""/openapi.json describes exactly the routes the app serves, with their errors."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from ageverify.errors import CODES

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}


def _routes(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - IMPLICIT_METHODS:
            routes.add((path, method.lower()))
    return routes


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (path, method) for path, operations in document["paths"].items() for method in operations
    }


def test_every_route_is_documented_and_every_documented_path_exists(
    app: Flask, client: FlaskClient
) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    routes, documented = _routes(app), _documented(document)
    assert routes - documented == set(), "routes missing from /openapi.json"
    assert documented - routes == set(), "documented paths the app does not serve"


def test_documented_errors_are_real_codes_with_their_status(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            listed = set(operation["x-error-codes"])
            assert listed <= set(CODES), (path, method)
            assert "internal-error" in listed
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                enum = response["content"]["application/json"]["schema"]["allOf"][1]
                # Token requests answer a refused presentation with 401 and its own code.
                unauthorized = set(operation.get("x-unauthorized-codes", ()))
                for code in enum["properties"]["code"]["enum"]:
                    expected = 401 if code in unauthorized else CODES[code][0]
                    assert expected == int(status), (path, method, code)


def test_request_bodies_and_references_resolve(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    schemas = document["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                section, name = ref.split("/")[-2:]
                assert name in document["components"][section], ref
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    for path, method in (("/v1/credentials", "post"), ("/v1/presentations/verify", "post")):
        body = document["paths"][path][method]["requestBody"]
        assert body["required"] is True
    assert schemas["CredentialRequest"]["properties"]["holder_keys"]["maxItems"] == 30
    assert document["servers"] == [{"url": "http://127.0.0.1:8000"}]


def test_admin_operations_declare_the_bearer_scheme(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    for path, operations in document["paths"].items():
        for operation in operations.values():
            is_admin = path.startswith("/v1/admin/")
            assert (operation.get("security") == [{"adminToken": []}]) is is_admin, path
