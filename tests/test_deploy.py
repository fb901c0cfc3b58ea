"""The deployment files, checked by real schema validators and against the code they run.

Docker and a cluster are not needed: the Kubernetes manifests in deploy/k8s
are validated with ``kubernetes-validate`` (bundled schemas, strict, so an
unknown field fails), deploy/compose.yaml with ``check-jsonschema``'s bundled
compose-spec schema, and the Dockerfile is read with ``dockerfile-parse``.
The cross-checks hold the files to the code: every ``AGEVERIFY_*`` variable
is a real setting, probe paths are routes of the app, ports agree, the key
files the issuer reads pass the key store's permission rule, and the pods
outlive gunicorn's graceful shutdown.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec
from dockerfile_parse import DockerfileParser
from flask import Flask
from packaging.requirements import Requirement

import ageverify.cli
from ageverify.cli import cli, server_options
from ageverify.config import Settings
from ageverify.crypto import FileKeyStore
from ageverify.errors import KeyStoreError

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "deploy" / "compose.yaml"
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S / "kustomization.yaml"
EXAMPLE_SECRET = K8S / "secret.example.yaml"
GUNICORN_CONF = "deploy/gunicorn.conf.py"
# How the image, compose and Kubernetes start the issuer.
SERVER_COMMAND = ["python", "-OO", "-m", "gunicorn", "-c", GUNICORN_CONF]

# The oldest Kubernetes release the manifests are written for; its strict
# schemas ship with kubernetes-validate.
KUBERNETES_VERSION = "1.30"

ENV_NAME = re.compile(r"\bAGEVERIFY_[A-Z0-9_]+\b")
PLACEHOLDER = "REPLACE-ME"
# Stands in for the passphrase the example Secret leaves out.
STAND_IN = "stand-in, not a deployment's"


# --- loading ------------------------------------------------------------------


def _manifest_files() -> list[Path]:
    return sorted(path for path in K8S.glob("*.yaml") if path != KUSTOMIZATION)


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _resources() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in _manifest_files() for doc in _documents(path)]


def _one(kind: str, path: Path | None = None) -> dict[str, Any]:
    found = [
        doc
        for name, doc in _resources()
        if doc["kind"] == kind and (path is None or name == path.name)
    ]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def _pod_spec() -> dict[str, Any]:
    spec: dict[str, Any] = _one("Deployment")["spec"]["template"]["spec"]
    return spec


def _issuer_container() -> dict[str, Any]:
    containers = _pod_spec()["containers"]
    assert len(containers) == 1, "the issuer pod runs one container"
    container: dict[str, Any] = containers[0]
    return container


def _all_containers() -> list[dict[str, Any]]:
    spec = _pod_spec()
    return [*spec.get("initContainers", []), *spec["containers"]]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def _dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def _stages(parser: DockerfileParser) -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, one list per stage (each starting with its FROM)."""
    stages: list[list[dict[str, Any]]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages and instruction["instruction"] != "COMMENT":
            stages[-1].append(instruction)
    return stages


def _pod_environment() -> dict[str, str]:
    """The issuer container's environment: image defaults, the ConfigMap, then ``env``.

    Values from a Secret are left out (the example Secret holds placeholders).
    """
    environment = dict(_dockerfile().envs)
    configmaps = {
        doc["metadata"]["name"]: doc for _, doc in _resources() if doc["kind"] == "ConfigMap"
    }
    container = _issuer_container()
    for source in container.get("envFrom", []):
        reference = source["configMapRef"]["name"]
        assert reference in configmaps, f"envFrom names ConfigMap {reference}, not in deploy/k8s"
        environment.update(configmaps[reference]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
    return environment


def _bind_port(bind: str) -> int:
    host, _, port = bind.rpartition(":")
    assert host and port.isdigit(), f"AGEVERIFY_BIND must be host:port, not {bind!r}"
    return int(port)


def _known_variables() -> set[str]:
    """``AGEVERIFY_*`` names something reads: the settings, and what the server options read."""
    settings = {"AGEVERIFY_" + f.name.upper() for f in dataclasses.fields(Settings)}
    source = Path(ageverify.cli.__file__).read_text(encoding="utf-8")
    server = set(re.findall(r"os\.environ\.get\(\s*\"(AGEVERIFY_[A-Z0-9_]+)\"", source))
    assert {"AGEVERIFY_BIND", "AGEVERIFY_WORKERS"} <= server
    return settings | server


# --- Kubernetes: schemas --------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "resource"),
    _resources(),
    ids=[f"{name}:{doc['kind']}/{doc['metadata']['name']}" for name, doc in _resources()],
)
def test_kubernetes_manifest_matches_its_schema(filename: str, resource: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    # The control for the test above: a misspelt field must not pass unnoticed.
    deployment = copy.deepcopy(_one("Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_kind_the_issuer_needs_is_there() -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for _, doc in _resources()}
    assert {
        ("apps/v1", "Deployment"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("policy/v1", "PodDisruptionBudget"),
    } <= kinds


def test_kustomization_lists_every_manifest_but_the_example_secrets() -> None:
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    expected = {path.name for path in _manifest_files()} - {EXAMPLE_SECRET.name}
    # Applying the placeholders would overwrite the real Secrets.
    assert set(listed) == expected
    images = {image["name"] for image in kustomization.get("images", [])}
    assert {c["image"] for c in _all_containers()} <= images


# --- Kubernetes: the pod ----------------------------------------------------------


def test_pod_runs_as_the_image_user_and_locked_down() -> None:
    spec = _pod_spec()
    pod = spec["securityContext"]
    user = _dockerfile_user()
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == user[0] and pod.get("runAsGroup", user[1]) == user[1]
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in _all_containers():
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        assert "add" not in context["capabilities"], container["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, container["name"]
        assert container["resources"]["requests"] and container["resources"]["limits"]


def test_writable_paths_are_volumes() -> None:
    # A read-only root: /tmp (gunicorn's worker files) and the Prometheus
    # multiprocess folder must be on mounted emptyDirs.
    container = _issuer_container()
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in _pod_spec()["volumes"]}
    environment = _pod_environment()
    for path in ("/tmp", environment["PROMETHEUS_MULTIPROC_DIR"]):  # noqa: S108
        holders = [m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")]
        assert holders, f"{path} is on the read-only root filesystem"
        mount = mounts[max(holders, key=len)]
        assert "emptyDir" in volumes[mount["name"]] and not mount.get("readOnly"), path


def test_deployment_is_highly_available() -> None:
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = _one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    service = _one("Service")
    assert service["spec"]["selector"].items() <= labels.items()


def test_issuer_runs_the_image_command() -> None:
    command = json.loads(_dockerfile().cmd)
    assert _issuer_container()["command"] == command
    assert command == SERVER_COMMAND
    assert (ROOT / GUNICORN_CONF).is_file()


def test_the_image_compiles_the_bytecode_its_server_runs() -> None:
    # The root filesystem is read-only: bytecode for python -OO that is not
    # in the image is compiled again, in memory, by every worker.
    parser = _dockerfile()
    optimisation = json.loads(parser.cmd)[1]
    assert optimisation.startswith("-O")
    runs = [i["value"] for i in _stages(parser)[-1] if i["instruction"] == "RUN"]
    compile_step = next(run for run in runs if "compileall" in run)
    assert compile_step.startswith(f"python {optimisation} -m compileall ")
    assert 'get_path("stdlib")' in compile_step  # site-packages lies inside it
    # ... after the packages are installed.
    assert runs.index(compile_step) > next(i for i, run in enumerate(runs) if "pip install" in run)


def test_the_load_benchmark_serves_as_the_image_does() -> None:
    from benchmarks import load

    assert ["python", *load.SERVER_ARGUMENTS, GUNICORN_CONF] == SERVER_COMMAND


def test_migrations_run_before_the_issuer() -> None:
    upgrade = ["ageverify", "db", "upgrade"]
    runs = [c for c in _pod_spec().get("initContainers", []) if c.get("command") == upgrade]
    jobs = [
        doc
        for _, doc in _resources()
        if doc["kind"] == "Job"
        and any(c.get("command") == upgrade for c in doc["spec"]["template"]["spec"]["containers"])
    ]
    assert runs or jobs, "no init container or Job runs `ageverify db upgrade`"
    # The command exists, and needs only the database URL.
    assert "upgrade" in cli.commands["db"].commands  # type: ignore[attr-defined]
    for container in runs:
        names = {variable["name"] for variable in container["env"]}
        assert names == {"AGEVERIFY_DATABASE_URL"}


def test_shutdown_outlasts_the_drain_and_gunicorn_graceful_timeout() -> None:
    spec = _pod_spec()
    graceful = server_options()["graceful_timeout"]
    pre_stop = _issuer_container()["lifecycle"]["preStop"]
    if "sleep" in pre_stop:
        drain = pre_stop["sleep"]["seconds"]
    else:
        command = pre_stop["exec"]["command"]
        assert command[0] == "sleep" and command[1].isdigit(), command
        drain = int(command[1])
    assert drain >= 5, "the preStop sleep gives load balancers time to stop sending"
    assert spec["terminationGracePeriodSeconds"] > drain + graceful


def test_probe_paths_are_routes_of_the_app(app: Flask) -> None:
    container = _issuer_container()
    probes = {name: container[name] for name in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    annotations = _one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    paths = {probe["httpGet"]["path"] for probe in probes.values()}
    paths |= {annotations["prometheus.io/path"], _dockerfile_healthcheck_path()}
    paths |= {_compose_healthcheck_path()}
    routes = {rule.rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}
    assert paths <= routes, f"not routes of the app: {sorted(paths - routes)}"
    for path in paths:
        assert app.test_client().get(path).status_code == 200, path


def test_ports_agree_with_the_bind_address() -> None:
    port = _bind_port(_pod_environment()["AGEVERIFY_BIND"])
    container = _issuer_container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": port}
    for name in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[name]["httpGet"]["port"] in ("http", port), name
    annotations = _one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port
    for service_port in _one("Service")["spec"]["ports"]:
        assert service_port["targetPort"] in ports or service_port["targetPort"] == port


def test_key_files_the_issuer_reads_pass_the_key_store_rule(tmp_path: Path) -> None:
    spec = _pod_spec()
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    keys_dir = _pod_environment()["AGEVERIFY_KEYS_DIR"]
    mount = next(m for m in _issuer_container()["volumeMounts"] if m["mountPath"] == keys_dir)
    assert mount.get("readOnly") is True, "only an operator's key generation writes key files"
    # A Secret or projected volume holds symlinks (the key store opens with
    # O_NOFOLLOW) owned by root, and fsGroup makes them group readable.
    assert "emptyDir" in volumes[mount["name"]], "mount key copies, not the Secret itself"
    assert volumes[mount["name"]]["emptyDir"].get("medium") == "Memory"

    # The init container that fills that folder from the Secret, and the mode it gives.
    fillers = [
        container
        for container in spec["initContainers"]
        if any(m["name"] == mount["name"] for m in container.get("volumeMounts", []))
    ]
    assert len(fillers) == 1
    filler = fillers[0]
    script = filler["command"][-1]
    copied = re.fullmatch(r"install -m (0[0-7]{3}) (\S+)/\*\.pem (\S+)/", script)
    assert copied, f"unexpected key copy command: {script!r}"
    mode = int(copied.group(1), 8)
    sources = {m["mountPath"]: m for m in filler["volumeMounts"]}
    assert copied.group(3) == keys_dir
    secret_mount = sources[copied.group(2)]
    secret = volumes[secret_mount["name"]]["secret"]
    assert secret_mount.get("readOnly") is True

    # The Secret's files are root-owned: the non-root copy reads them through
    # fsGroup, which the kubelet turns into group read on top of defaultMode.
    fs_group = spec["securityContext"].get("fsGroup")
    assert fs_group == spec["securityContext"]["runAsGroup"]
    secret_mode = secret.get("defaultMode", 0o644) | (0o440 if fs_group is not None else 0)
    assert secret_mode & stat.S_IRGRP, "the init container could not read the Secret"

    # The real key store with a file of the copy's mode, and of the Secret's.
    store = FileKeyStore(tmp_path, b"placeholder passphrase")
    store.save("copied", ec.generate_private_key(ec.SECP256R1()))
    os.chmod(store.path("copied"), mode)
    store.load("copied")
    os.chmod(store.path("copied"), secret_mode)
    with pytest.raises(KeyStoreError, match="accessible by group or others"):
        store.load("copied")


def test_example_secret_holds_placeholders_the_deployment_names() -> None:
    secrets = [doc for doc in _documents(EXAMPLE_SECRET) if doc["kind"] == "Secret"]
    assert [doc["kind"] for doc in _documents(EXAMPLE_SECRET)] == ["Secret"] * len(secrets)
    first_line = EXAMPLE_SECRET.read_text(encoding="utf-8").splitlines()[0]
    assert "EXAMPLE ONLY" in first_line, "the file must say at once that it is an example"
    keys = {}
    for doc in secrets:
        assert "data" not in doc, "placeholders are readable stringData, not base64"
        for key, value in doc["stringData"].items():
            assert PLACEHOLDER in value, f"{key} is not a placeholder"
            assert "PRIVATE KEY-----" not in value
        keys[doc["metadata"]["name"]] = set(doc["stringData"])
    for container in _all_containers():
        for variable in container.get("env", []):
            reference = variable.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["key"] in keys.get(reference["name"], set()), reference
    for volume in _pod_spec()["volumes"]:
        if "secret" in volume:
            assert volume["secret"]["secretName"] in keys
    # What is secret never sits in the ConfigMap.
    for _, doc in _resources():
        if doc["kind"] == "ConfigMap":
            assert not {"AGEVERIFY_KEY_PASSPHRASE", "AGEVERIFY_DATABASE_URL"} & set(doc["data"])


def test_pod_settings_load() -> None:
    environment = {k: v for k, v in _pod_environment().items() if k.startswith("AGEVERIFY_")}
    environment["AGEVERIFY_KEY_PASSPHRASE"] = STAND_IN
    settings = Settings.load(environ=environment)
    assert not settings.development
    assert settings.redis_url, "several replicas share rate limits only through Redis"
    assert int(environment["AGEVERIFY_WORKERS"]) >= 1


# --- compose --------------------------------------------------------------------


def test_compose_matches_the_compose_spec() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_check_refuses_an_unknown_key(tmp_path: Path) -> None:
    # The control for the test above.
    document = _compose()
    document["services"]["issuer"]["readonly"] = True
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert _check_compose(broken).returncode != 0


def test_compose_runs_the_issuer_with_its_services() -> None:
    services = _compose()["services"]
    issuer = services["issuer"]
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert issuer["command"] == json.loads(_dockerfile().cmd)
    assert issuer["read_only"] is True
    tmpfs = {entry.split(":")[0] for entry in issuer["tmpfs"]}
    assert {"/tmp", issuer["environment"]["PROMETHEUS_MULTIPROC_DIR"]} <= tmpfs  # noqa: S108
    environment = issuer["environment"]
    assert environment["AGEVERIFY_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["AGEVERIFY_REDIS_URL"].startswith("redis://redis:")
    assert "AGEVERIFY_ISSUER_URL" in environment
    assert "AGEVERIFY_KEY_PASSPHRASE" not in environment, "the passphrase is a secret"
    secrets = {s if isinstance(s, str) else s["source"] for s in issuer["secrets"]}
    assert {"key_passphrase", "keys"} <= secrets <= set(_compose()["secrets"])
    keys_target = next(s["target"] for s in issuer["secrets"] if isinstance(s, dict))
    assert environment["AGEVERIFY_KEYS_DIR"] == keys_target
    grace = issuer["stop_grace_period"]
    assert grace.endswith("s") and int(grace[:-1]) > server_options()["graceful_timeout"]
    assert issuer["stop_signal"] == "SIGTERM"
    assert services["migrate"]["command"] == ["ageverify", "db", "upgrade"]


def test_compose_waits_for_healthy_dependencies() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] in ("service_healthy", "service_completed_successfully")
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"
    assert services["issuer"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["issuer"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["issuer"]


def test_compose_ports_agree_with_the_bind_address() -> None:
    issuer = _compose()["services"]["issuer"]
    port = _bind_port(issuer["environment"]["AGEVERIFY_BIND"])
    published = [entry.rsplit(":", 1)[1] for entry in issuer["ports"]]
    assert published == [str(port)]
    assert f"127.0.0.1:{port}/" in " ".join(issuer["healthcheck"]["test"])


def test_compose_settings_load() -> None:
    environment = dict(_compose()["services"]["issuer"]["environment"])
    environment["AGEVERIFY_ISSUER_URL"] = "https://age.example.com"
    environment["AGEVERIFY_KEY_PASSPHRASE"] = STAND_IN
    environment = {k: v for k, v in environment.items() if k.startswith("AGEVERIFY_")}
    settings = Settings.load(environ=environment)
    assert settings.database_url.startswith("postgresql+psycopg://")


# --- Dockerfile -----------------------------------------------------------------


def test_dockerfile_builds_a_wheel_and_installs_it_in_a_clean_slim_stage() -> None:
    parser = _dockerfile()
    assert parser.is_multistage
    assert set(parser.parent_images) == {"python:3.11-slim-bookworm"}
    build, *_, final = _stages(parser)
    assert any(i["instruction"] == "RUN" and "pip wheel" in i["value"] for i in build)
    runs = " ".join(i["value"] for i in final if i["instruction"] == "RUN")
    assert "pip install --no-index" in runs and "from=build" in runs


def test_dockerfile_runs_as_a_fixed_non_root_user() -> None:
    uid, gid = _dockerfile_user()
    assert uid != 0 and gid != 0


def test_dockerfile_bakes_in_no_keys_or_secrets() -> None:
    parser = _dockerfile()
    forbidden = re.compile(r"(^|/)(keys|instance|secrets)(/|$)|(^|/)\.env")
    for instruction in parser.structure:
        if instruction["instruction"] in ("COPY", "ADD"):
            sources = _copy_sources(instruction["value"])
            for source in sources:
                assert not forbidden.search(source), f"{instruction['instruction']} {source}"
                assert _docker_context_includes(source), f"{source} is left out by .dockerignore"
        if instruction["instruction"] in ("ENV", "ARG"):
            assert "PASSPHRASE" not in instruction["value"].upper()
    assert not any(i["instruction"] == "ADD" for i in parser.structure), "COPY, never ADD"


def test_dockerfile_serves_with_the_gunicorn_config() -> None:
    parser = _dockerfile()
    final = _stages(parser)[-1]
    command = json.loads(parser.cmd)
    assert command[:4] == ["python", "-OO", "-m", "gunicorn"]
    assert command[command.index("-c") + 1] == GUNICORN_CONF
    workdir = [i["value"] for i in final if i["instruction"] == "WORKDIR"][-1]
    copied = {
        _copy_sources(i["value"])[-1]: i["value"].split()[-1]
        for i in final
        if i["instruction"] == "COPY" and "--from" not in i["value"]
    }
    assert GUNICORN_CONF in copied, "the gunicorn config is not in the image"
    destination = copied[GUNICORN_CONF]
    if destination.endswith("/"):
        destination += Path(GUNICORN_CONF).name
    # gunicorn -c takes the path relative to the working directory.
    assert Path(workdir, destination) == Path(workdir, GUNICORN_CONF)


def test_dockerfile_exposes_the_bind_port_and_stops_gracefully() -> None:
    parser = _dockerfile()
    values = {i["instruction"]: i["value"] for i in _stages(parser)[-1]}
    assert values["EXPOSE"] == str(_bind_port(parser.envs["AGEVERIFY_BIND"]))
    assert values["STOPSIGNAL"] == "SIGTERM"
    assert "HEALTHCHECK" in values and "urllib" in values["HEALTHCHECK"]
    assert "curl" not in values["HEALTHCHECK"]


def test_image_installs_every_module_the_issuer_imports() -> None:
    # The runtime stage installs the wheel's declared dependencies (and their
    # own), plus the Dockerfile's extra driver: nothing from this venv.
    declared = [Requirement(text) for text in _pyproject()["project"]["dependencies"]]
    installed = " ".join(
        i["value"] for i in _stages(_dockerfile())[-1] if i["instruction"] == "RUN"
    )
    declared += [
        Requirement(extra) for extra in re.findall(r'"([a-z0-9_.-]+\[?[a-z,]*\]?)"', installed)
    ]
    closure = _requirement_closure(declared)
    providers = packages_distributions()
    missing = {}
    for module, files in _third_party_imports(ROOT / "ageverify").items():
        distributions = {_normalize(name) for name in providers.get(module, [module])}
        if not distributions & closure:
            missing[module] = sorted(files)[:3]
    assert not missing, f"imported but not installed in the image: {missing}"


def test_dockerignore_keeps_private_files_out_of_the_build_context() -> None:
    for path in (
        "keys/abc.pem",
        "instance/ageverify.db",
        "instance/dev.json",
        ".env",
        "deploy/.env",
        "deploy/secrets/key_passphrase",
        "deploy/secrets/keys/log-ed25519.pem",
        ".git/config",
        ".venv/bin/python",
        "ageverify/__pycache__/cli.cpython-311.pyc",
    ):
        assert not _docker_context_includes(path), path
    for path in (
        "pyproject.toml",
        "README.md",
        "ageverify/__init__.py",
        "ageverify/web/wallet/index.html",
        GUNICORN_CONF,
    ):
        assert _docker_context_includes(path), path


# --- every file -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [DOCKERFILE, COMPOSE, *_manifest_files(), KUSTOMIZATION],
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_every_ageverify_variable_is_a_real_setting(path: Path) -> None:
    used = set(ENV_NAME.findall(path.read_text(encoding="utf-8")))
    unknown = used - _known_variables()
    assert not unknown, f"{path.name} sets variables nothing reads: {sorted(unknown)}"


# --- helpers over the Dockerfile and compose ------------------------------------


def _dockerfile_user() -> tuple[int, int]:
    users = [i["value"] for i in _stages(_dockerfile())[-1] if i["instruction"] == "USER"]
    assert users, "the image runs as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and group.isdigit(), "USER must be numeric uid:gid for runAsNonRoot"
    return int(user), int(group)


def _dockerfile_healthcheck_path() -> str:
    value = next(i["value"] for i in _dockerfile().structure if i["instruction"] == "HEALTHCHECK")
    found = re.search(r"http://127\.0\.0\.1:\{port\}(/[A-Za-z0-9_/-]*)", value)
    assert found, "the HEALTHCHECK asks no local URL"
    return found.group(1)


def _compose_healthcheck_path() -> str:
    test = " ".join(_compose()["services"]["issuer"]["healthcheck"]["test"])
    found = re.search(r"http://127\.0\.0\.1:\d+(/[A-Za-z0-9_/-]*)", test)
    assert found, "the compose healthcheck asks no local URL"
    return found.group(1)


def _copy_sources(value: str) -> list[str]:
    """The sources of a COPY/ADD value (flags and the destination left out)."""
    words = json.loads(value) if value.lstrip().startswith("[") else value.split()
    words = [word for word in words if not word.startswith("--")]
    return words[:-1]


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """(.dockerignore's rules as (exclude?, pattern)), in order: the last match wins."""
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclude = not line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        for part in re.split(r"(\*\*/?|\*|\?)", pattern):
            if part == "**/":
                regex += "(.*/)?"
            elif part == "**":
                regex += ".*"
            elif part == "*":
                regex += "[^/]*"
            elif part == "?":
                regex += "[^/]"
            else:
                regex += re.escape(part)
        # A rule on a folder covers everything in it, as Docker's matcher does.
        rules.append((exclude, re.compile(f"{regex}(/.*)?")))
    return rules


def _docker_context_includes(path: str) -> bool:
    """Whether ``path`` (relative to the repository) reaches the Docker build context."""
    path = path.strip("/")
    included = True
    for exclude, pattern in _dockerignore_rules():
        if pattern.fullmatch(path):
            included = not exclude
    return included


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_closure(requirements: list[Requirement]) -> set[str]:
    """The distributions ``requirements`` install, with their own requirements (no extras)."""
    seen: set[str] = set()
    queue = list(requirements)
    while queue:
        requirement = queue.pop()
        name = _normalize(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(requirement.name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            nested = Requirement(text)
            wanted = set(requirement.extras)
            if nested.marker is None or any(
                nested.marker.evaluate({"extra": extra}) for extra in wanted or {""}
            ):
                queue.append(nested)
    return seen


def _third_party_imports(package: Path) -> dict[str, set[str]]:
    """Top-level modules imported by ``package`` outside the standard library.

    Imports under ``if TYPE_CHECKING:`` are left out: they never run.
    """
    found: dict[str, set[str]] = {}

    def visit(node: ast.AST, path: Path) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            for child in node.orelse:
                visit(child, path)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top != package.name:
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
        for child in ast.iter_child_nodes(node):
            visit(child, path)

    for path in package.rglob("*.py"):
        visit(ast.parse(path.read_text(encoding="utf-8")), path)
    return found


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the venv's own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_gunicorn_config_takes_every_server_option() -> None:
    """deploy/gunicorn.conf.py and ``ageverify serve`` run with the same settings."""
    text = (ROOT / GUNICORN_CONF).read_text(encoding="utf-8")
    wired = set(re.findall(r'^(\w+) = _options\["(\w+)"\]$', text, flags=re.MULTILINE))
    assert {name for name, key in wired if name == key} == set(server_options())


def test_workers_leave_their_start_out_of_garbage_collection() -> None:
    import gc

    from ageverify.cli import freeze_startup_objects

    hook = server_options()["post_worker_init"]
    assert hook is freeze_startup_objects
    try:
        hook(None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
