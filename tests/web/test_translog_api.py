"""The transparency log over HTTP (C2SP tlog-tiles): checkpoint, tiles, entry bundles."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ageverify import create_app
from ageverify.config import Settings
from ageverify.errors import ConfigurationError
from ageverify.formats import jose, privacypass
from ageverify.translog import merkle, tiles
from ageverify.translog.checkpoint import Checkpoint, open_checkpoint
from ageverify.translog.log import LOG_KEY_NAME
from ageverify.translog.note import Verifier

IMMUTABLE = "public, max-age=31536000, immutable"


class ServedLog:
    """What an auditor reads from the issuer: the pinned key, the checkpoint, tiles, entries."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        discovery = client.get("/.well-known/age-verification").json
        self.origin = discovery["log"]["origin"]
        self.verifier = Verifier.from_vkey(discovery["log"]["vkey"])
        response = client.get("/log/checkpoint")
        assert response.status_code == 200
        assert response.mimetype == "text/plain"
        self.checkpoint, _ = open_checkpoint(response.data, self.origin, [self.verifier])
        self.levels: dict[int, list[bytes]] = {}
        for tile in tiles.tiles_for_size(self.checkpoint.size):
            data = self.get("/log/" + tile.path)
            self.levels.setdefault(tile.level, []).extend(tiles.decode_hash_tile(data, tile.width))
        self.entries: list[bytes] = []
        for tile in tiles.tiles_for_size(self.checkpoint.size):
            if tile.level == 0:
                bundle = tiles.EntryBundle(tile.index, tile.width)
                data = self.get("/log/" + bundle.path)
                self.entries += tiles.decode_entry_bundle(data, bundle.width)

    def get(self, path: str) -> bytes:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.json)
        assert response.mimetype == "application/octet-stream"
        return response.data

    def hash_at(self, level: int, index: int) -> bytes:
        """Any full subtree hash, from the served tiles (those hold every eighth level)."""
        below = level % tiles.TILE_HEIGHT
        stored = self.levels[level // tiles.TILE_HEIGHT]
        first = index << below
        return merkle.root(stored[first : first + (1 << below)])

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(entry) for entry in self.entries]

    def prove(self, index: int) -> None:
        """Check, from served tiles only, that entry ``index`` is in the checkpoint's tree."""
        size, root = self.checkpoint.size, self.checkpoint.root_hash
        proof = merkle.inclusion_proof(index, size, self.hash_at)
        merkle.verify_inclusion(merkle.leaf_hash(self.entries[index]), index, size, proof, root)


def test_discovery_names_the_log(client: FlaskClient, app: Flask) -> None:
    document = client.get("/.well-known/age-verification").json
    issuer = app.extensions["ageverify"].settings.issuer_url
    assert document["log"]["origin"] == issuer.split("://", 1)[1] + "/log"
    assert document["log"]["url"] == issuer + "/log/"
    verifier = Verifier.from_vkey(document["log"]["vkey"])
    assert verifier.name == document["log"]["origin"]


def test_checkpoint_verifies_with_the_published_key(client: FlaskClient) -> None:
    served = ServedLog(client)
    response = client.get("/log/checkpoint")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # The note's text is exactly a checkpoint of this log.
    assert Checkpoint.parse(response.data.decode().split("\n\n")[0] + "\n") == served.checkpoint
    assert served.events()[0] == {
        "v": 1,
        "type": "log-key",
        "time": served.events()[0]["time"],
        "vkey": served.verifier.vkey,
    }


def test_served_tiles_and_bundles_match_the_checkpoint(client: FlaskClient) -> None:
    served = ServedLog(client)
    leaves = [merkle.leaf_hash(entry) for entry in served.entries]
    assert len(leaves) == served.checkpoint.size
    assert served.levels[0] == leaves
    assert merkle.root(leaves) == served.checkpoint.root_hash
    assert merkle.root_at(served.checkpoint.size, served.hash_at) == served.checkpoint.root_hash


def test_every_served_key_has_an_entry_proven_in_the_checkpoint(client: FlaskClient) -> None:
    served = ServedLog(client)
    published = {
        event["kid"]: index
        for index, event in enumerate(served.events())
        if event["type"] == "credential-key-published"
    }
    jwks = client.get("/.well-known/jwks.json").json["keys"]
    assert jwks
    for jwk in jwks:
        index = published[jwk["kid"]]
        served.prove(index)
        logged = served.events()[index]["jwk"]
        assert {k: jwk[k] for k in logged} == logged

    token_published = {
        event["token_key"]: index
        for index, event in enumerate(served.events())
        if event["type"] == "token-key-published"
    }
    directory = json.loads(client.get(privacypass.DIRECTORY_PATH).data)
    assert directory["token-keys"]
    for key in directory["token-keys"]:
        spki = jose.b64url_encode(jose.b64url_decode(key["token-key"].rstrip("=")))
        served.prove(token_published[spki])


def test_key_events_from_the_admin_api_are_logged_in_order(
    client: FlaskClient, admin_token: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    current = client.get("/v1/admin/keys", headers=headers).json["keys"][0]["kid"]
    assert client.post(f"/v1/admin/keys/{current}/revoke", headers=headers).status_code == 200
    served = ServedLog(client)
    types = [event["type"] for event in served.events()]
    # The fixtures registered the demo verifier, then created the admin token.
    assert types[-3:] == ["verifier-registered", "admin-token-created", "credential-key-revoked"]
    assert served.events()[-1]["kid"] == current
    assert current not in {key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]}
    secret = admin_token.rpartition(".")[2].encode()
    assert not any(secret in entry for entry in served.entries)


def test_full_tiles_are_immutable_and_partial_ones_are_not(client: FlaskClient, app: Flask) -> None:
    from ageverify.storage.db import transaction
    from ageverify.translog import events
    from ageverify.translog.log import record

    state = app.extensions["ageverify"]
    with transaction(state.sessions) as session:
        for n in range(260):
            record(session, events.verifier_suspended(verifier_id=f"v{n}", time=n))
    size = ServedLog(client).checkpoint.size
    assert size > 256
    for path in ("/log/tile/0/000", "/log/tile/entries/000"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == IMMUTABLE
    partial = tiles.partial_tiles(size)[0]
    response = client.get("/log/" + partial.path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] != IMMUTABLE
    assert "immutable" not in response.headers["Cache-Control"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/log/tile/0/001", "log-tile-not-found"),
        ("/log/tile/entries/001", "log-tile-not-found"),
        ("/log/tile/0/000.p/255", "log-tile-not-found"),
        ("/log/tile/0/0", "tile-path-invalid"),
        ("/log/tile/0/000.p/256", "tile-path-invalid"),
        ("/log/tile/x/000", "tile-path-invalid"),
        ("/log/tile/entries/x000/001", "tile-path-invalid"),
    ],
)
def test_tiles_not_in_the_log_are_not_found(client: FlaskClient, path: str, code: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json["code"] == code


def test_production_refuses_to_start_without_the_log_key(tmp_path: Path) -> None:
    from ageverify.web.runtime import open_runtime

    config = {
        "issuer_url": "https://age.example",
        "key_passphrase": "correct horse battery staple",
        "instance_path": tmp_path / "instance",
        "keys_dir": tmp_path / "keys",
    }
    state = open_runtime(Settings.load(**config))
    state.signing_keys.generate_ahead()
    state.close()
    app = create_app(config)
    assert app.extensions["ageverify"].log.origin == "age.example/log"
    app.extensions["ageverify"].close()

    (tmp_path / "keys" / f"{LOG_KEY_NAME}.pem").unlink()
    with pytest.raises(ConfigurationError, match="ageverify init"):
        create_app(config)
