"""The ``ageverify`` command line, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from alembic import command as alembic_command
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from ageverify import create_app
from ageverify.cli import cli
from ageverify.formats import jose
from ageverify.storage import make_engine, migrations, schema


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("command", _commands(cli), ids=lambda c: " ".join(c) or "ageverify")
def test_every_command_has_readable_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    # The first line of the docstring is the summary shown in the help.
    assert len(result.output.splitlines()) >= 3


@pytest.fixture
def initialised(runner: CliRunner) -> CliRunner:
    result = runner.invoke(cli, ["init", "--dev"])
    assert result.exit_code == 0, result.output
    return runner


def test_init_dev_prepares_an_instance(initialised: CliRunner, instance: Path) -> None:
    assert (instance / "dev.json").stat().st_mode & 0o077 == 0
    assert (instance / "demo-verifier-key.pem").stat().st_mode & 0o077 == 0
    listed = initialised.invoke(cli, ["verifiers", "list"])
    assert "demo-verifier" in listed.output and "DEMO" in listed.output
    # Running it again adds nothing and changes nothing.
    again = initialised.invoke(cli, ["init", "--dev"])
    assert again.exit_code == 0
    assert "0 generated" in again.output
    assert "Registered" not in again.output


def test_init_dev_tells_what_to_run_next(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["init", "--dev"])
    assert "AGEVERIFY_ENV=development ageverify serve" in result.output


def test_init_brings_the_database_schema_to_the_latest_revision(runner: CliRunner) -> None:
    head = schema.head_revision()
    result = runner.invoke(cli, ["init", "--dev"])
    assert f"Database schema: upgraded from nothing to revision {head}" in result.output
    again = runner.invoke(cli, ["init", "--dev"])
    assert f"Database schema: at revision {head}, the latest" in again.output


def test_db_commands_need_no_setting_but_the_database(tmp_path: Path) -> None:
    # Production, without an issuer URL or key passphrase: enough to migrate.
    runner = CliRunner(env={"AGEVERIFY_INSTANCE_PATH": str(tmp_path / "instance")})
    head = schema.head_revision()
    before = runner.invoke(cli, ["db", "current"])
    assert (before.exit_code, before.output) == (
        0,
        f"none (latest: {head}; run `ageverify db upgrade`)\n",
    )
    assert not (tmp_path / "instance").exists()

    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"sqlite:///{tmp_path / 'instance' / 'ageverify.db'}" in upgraded.output
    assert f"upgraded from nothing to revision {head}" in upgraded.output
    assert runner.invoke(cli, ["db", "current"]).output == f"{head} (latest)\n"
    again = runner.invoke(cli, ["db", "upgrade"])
    assert f"at revision {head}, the latest" in again.output


def test_a_schema_older_than_the_release_is_one_line_saying_what_to_run(
    initialised: CliRunner, instance: Path
) -> None:
    # The database as the previous release left it.
    engine = make_engine(f"sqlite:///{instance / 'ageverify.db'}")
    try:
        with engine.begin() as connection:
            alembic_command.downgrade(schema.alembic_config(connection), schema.BASELINE)
    finally:
        engine.dispose()
    result = initialised.invoke(cli, ["verifiers", "list"])
    assert result.exit_code == 1
    assert "run `ageverify db upgrade`" in result.output
    assert "Traceback" not in result.output
    assert (
        f"(latest: {migrations.HEAD}; run `ageverify db upgrade`)"
        in initialised.invoke(cli, ["db", "current"]).output
    )
    assert initialised.invoke(cli, ["db", "upgrade"]).exit_code == 0
    assert "demo-verifier" in initialised.invoke(cli, ["verifiers", "list"]).output


def test_db_commands_report_an_unreachable_database_in_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://issuer:s3cret@127.0.0.1:1/ageverify?connect_timeout=2"
    runner = CliRunner(env={"AGEVERIFY_DATABASE_URL": url})
    for command in (["db", "current"], ["db", "upgrade"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, command
        assert "database postgresql+psycopg://issuer:***@127.0.0.1:1/" in result.output
        assert "s3cret" not in result.output
        assert "Traceback" not in result.output


def _listed(runner: CliRunner, kind: str) -> list[dict[str, Any]]:
    rows = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).output)
    return [row for row in rows if row["kind"] == kind]


def test_an_id_starting_with_a_dash_needs_the_separator(initialised: CliRunner) -> None:
    # Key ids are base64url: one in 64 starts with "-". After "--" it is an id,
    # not an option; the help of each such command says so.
    result = initialised.invoke(cli, ["keys", "retire", "--", "-no-such-kid"])
    assert result.exit_code == 1 and "unknown-key" in result.output
    assert "--" in initialised.invoke(cli, ["keys", "retire", "--help"]).output


def test_keys_commands(initialised: CliRunner) -> None:
    keys = _listed(initialised, "credential")
    assert len(keys) == 3 and {k["status"] for k in keys} == {"active"}
    kid = keys[-1]["kid"]
    assert initialised.invoke(cli, ["keys", "retire", "--", kid]).exit_code == 0
    regenerated = initialised.invoke(cli, ["keys", "generate-ahead"])
    assert "1 key(s) generated" in regenerated.output
    assert "0 Privacy Pass token key(s) generated" in regenerated.output
    revoked = initialised.invoke(cli, ["keys", "revoke", "--yes", "--", kid])
    assert revoked.exit_code == 0, revoked.output
    statuses = {k["kid"]: k["status"] for k in _listed(initialised, "credential")}
    assert statuses[kid] == "revoked"


def test_token_keys_are_listed_retired_and_revoked_by_id(initialised: CliRunner) -> None:
    token_keys = _listed(initialised, "privacy-pass")
    # One per default threshold for this epoch and the two ahead.
    assert len(token_keys) == 5 * 3 and {k["status"] for k in token_keys} == {"active"}
    text = initialised.invoke(cli, ["keys", "list"]).output
    assert text.count("privacy-pass  ") == 15 and text.count("credential    ") == 3
    first, second = token_keys[0]["token_key_id"], token_keys[1]["token_key_id"]
    assert initialised.invoke(cli, ["keys", "retire", "--", first]).exit_code == 0
    regenerated = initialised.invoke(cli, ["keys", "generate-ahead"])
    assert "1 Privacy Pass token key(s) generated" in regenerated.output
    assert initialised.invoke(cli, ["keys", "revoke", "--yes", "--", second]).exit_code == 0
    statuses = {k["token_key_id"]: k["status"] for k in _listed(initialised, "privacy-pass")}
    assert (statuses[first], statuses[second]) == ("retired", "revoked")
    skipped = initialised.invoke(cli, ["keys", "generate-ahead", "--no-privacy-pass"])
    assert "Privacy Pass" not in skipped.output


def test_revoke_asks_first(initialised: CliRunner) -> None:
    kid = _listed(initialised, "credential")[0]["kid"]
    result = initialised.invoke(cli, ["keys", "revoke", "--", kid], input="n\n")
    assert result.exit_code == 1
    assert "Aborted" in result.output


def test_unknown_kid_is_one_line_not_a_traceback(initialised: CliRunner) -> None:
    result = initialised.invoke(cli, ["keys", "retire", "no-such-kid"])
    assert result.exit_code == 1
    assert "unknown-key:" in result.output
    assert "Traceback" not in result.output


def test_verifier_commands(initialised: CliRunner, tmp_path: Path) -> None:
    jwk = jose.public_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())
    jwks_file = tmp_path / "bank.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [jwk]}))
    added = initialised.invoke(
        cli,
        [
            "verifiers",
            "add",
            "bank-x",
            "--name",
            "Bank X",
            "--jwks",
            str(jwks_file),
            "--method",
            "bank",
            "--method",
            "eid",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "bank-x" in added.output and "ES256" in added.output
    shown = json.loads(initialised.invoke(cli, ["verifiers", "show", "bank-x"]).output)
    assert shown["methods"] == ["eid", "bank"]
    assert "suspended" in initialised.invoke(cli, ["verifiers", "suspend", "bank-x"]).output
    assert "active" in initialised.invoke(cli, ["verifiers", "resume", "bank-x"]).output
    duplicate = initialised.invoke(
        cli,
        ["verifiers", "add", "bank-x", "--name", "B", "--jwks", str(jwks_file), "--method", "bank"],
    )
    assert duplicate.exit_code == 1 and "conflict:" in duplicate.output
    missing = initialised.invoke(cli, ["verifiers", "show", "nobody"])
    assert missing.exit_code == 1 and "unknown-verifier-record" in missing.output


def test_admin_token_created_on_the_command_line_opens_the_api(
    initialised: CliRunner, instance: Path
) -> None:
    created = initialised.invoke(cli, ["admin-tokens", "create", "ops"])
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("avat_")
    app = create_app({"env": "development", "instance_path": instance})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/admin/keys", headers=headers).status_code == 200

    token_id = token.removeprefix("avat_").split(".")[0]
    listed = initialised.invoke(cli, ["admin-tokens", "list"])
    assert token_id in listed.output and token not in listed.output
    assert initialised.invoke(cli, ["admin-tokens", "revoke", "--", token_id]).exit_code == 0
    assert client.get("/v1/admin/keys", headers=headers).status_code == 401
    app.extensions["ageverify"].close()


def test_production_without_settings_says_what_to_set(tmp_path: Path) -> None:
    runner = CliRunner(env={"AGEVERIFY_INSTANCE_PATH": str(tmp_path)})
    for command in (["keys", "list"], ["serve"], ["init"]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, command
        assert "AGEVERIFY_ISSUER_URL" in result.output
        assert "AGEVERIFY_KEY_PASSPHRASE" in result.output
        assert "Traceback" not in result.output


def test_serve_refuses_production_without_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import tempfile

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    runner = CliRunner(
        env={
            "AGEVERIFY_INSTANCE_PATH": str(tmp_path / "instance"),
            "AGEVERIFY_KEYS_DIR": str(tmp_path / "keys"),
            "AGEVERIFY_ISSUER_URL": "https://age.example",
            "AGEVERIFY_KEY_PASSPHRASE": "correct horse battery staple",
        }
    )
    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 1
    assert "ageverify keys generate-ahead" in result.output
    # The metrics folder it made for gunicorn, which never ran, is gone.
    assert list((tmp_path / "tmp").iterdir()) == []
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_demo_tells_the_whole_story(initialised: CliRunner) -> None:
    result = initialised.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for step in (
        "1. Attest",
        "2. Issue a batch",
        "3. Present to two platforms",
        "4. Verify",
        "5. Replay refused",
        "6. A 15-year-old",
        "7. Unlinkable mode: a Privacy Pass challenge",
        "8. The wallet answers",
        "9. The platform verifies offline",
        "10. No 18+ token for the 15-year-old",
    ):
        assert step in out
    assert out.index("6. A 15-year-old") < out.index("7. Unlinkable mode") < out.index("Done.")
    assert "DEMO — not a real age check" in out
    assert "refused with 'nonce-reused'" in out
    assert "refused with 'requirement-not-met'" in out
    assert 'accepted, facts {"age_over_13": true, "age_over_18": false}' in out
    assert "the instance in" in out


def test_demo_tells_the_unlinkable_mode(initialised: CliRunner) -> None:
    result = initialised.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    unlinkable = result.stdout.split("7. Unlinkable mode", 1)[1]
    assert "WWW-Authenticate: PrivateToken challenge=" in unlinkable
    assert "Authorization: PrivateToken token=" in unlinkable
    assert 'https://video.example: accepted, facts {"age_over_18": true}.' in unlinkable
    assert "again: refused with 'token-replayed'." in unlinkable
    assert "the issuer refuses with 'requirement-not-met'." in unlinkable


def test_demo_without_an_instance_uses_a_temporary_one(tmp_path: Path) -> None:
    runner = CliRunner(env={"AGEVERIFY_INSTANCE_PATH": str(tmp_path / "none")})
    result = runner.invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert "a temporary development instance" in result.stdout
    assert not (tmp_path / "none").exists()
