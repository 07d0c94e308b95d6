"""deploy/k8s, checked by reading it (no cluster here): every service with its Deployment,
probes, Service, autoscaler, disruption budget and database; RabbitMQ and PostgreSQL through
their operators; no secret in git; every kustomization complete."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from shared.settings import CommonSettings
from tests.paths import REPO_ROOT
from tests.unit.deploy.manifests import (
    K8S,
    KUSTOMIZATION,
    LISTENERS,
    SERVICES,
    SUPPORTED_RABBITMQ,
    Service,
    build,
    database_name,
    documents,
    http_port,
    kustomization,
    kustomize_command,
    one,
    rabbitmq_line,
    resolve,
    setting_names,
    walk,
    yaml_files,
)

BASE = resolve(K8S / "base")
OVERLAYS = sorted(p.parent for p in (K8S / "overlays").glob(f"*/{KUSTOMIZATION}"))
BY_SERVICE = pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)
needs_kustomize = pytest.mark.skipif(
    kustomize_command() is None,
    reason="neither kustomize nor kubectl installed: overlays checked by their references only",
)
# Secrets the operators make, which the services may read.
RABBITMQ_SECRET = "forecourt-rabbitmq-default-user"
JWT_SECRET = "forecourt-jwt"


def cluster_name(service: Service) -> str:
    return f"forecourt-{service.name}-db"


def container(service: Service, objects: list[dict[str, Any]] = BASE) -> dict[str, Any]:
    deployment = one(objects, "Deployment", service.name)
    [main] = deployment["spec"]["template"]["spec"]["containers"]
    return main


def env_of(service: Service) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(service)["env"]}


# -- every file -------------------------------------------------------------------------------


def test_every_yaml_file_parses_to_kubernetes_objects_or_kustomizations() -> None:
    files = yaml_files(K8S)
    assert len(files) >= 30
    for path in files:
        for doc in documents(path):
            if isinstance(doc, list):  # a JSON patch file
                continue
            assert {"apiVersion", "kind"} <= doc.keys(), path


def test_every_kustomization_lists_every_file_beside_it_and_nothing_missing() -> None:
    for path in (K8S).rglob(KUSTOMIZATION):
        directory = path.parent
        k = kustomization(directory)
        listed = [*k.get("resources", []), *k.get("components", [])]
        listed += [p["path"] for p in k.get("patches", []) if "path" in p]
        for entry in listed:
            assert (directory / entry).exists(), f"{path}: {entry} does not exist"
        files = {p.name for p in directory.glob("*.yaml")} - {KUSTOMIZATION}
        subdirs = {p.name for p in directory.iterdir() if (p / KUSTOMIZATION).exists()}
        assert files | subdirs <= set(listed), (
            f"{path} leaves out {(files | subdirs) - set(listed)}"
        )


def test_the_base_lists_every_service_of_the_catalogue() -> None:
    assert {s.name for s in SERVICES} <= set(kustomization(K8S / "base")["resources"])


# -- secrets ----------------------------------------------------------------------------------


def test_no_secret_is_committed_in_plain_text() -> None:
    """No Secret object at all, not even with placeholder values: every Secret comes from an
    operator or is made outside git (deploy/README.md)."""
    for path in yaml_files(K8S):
        for doc in documents(path):
            for node in walk(doc):
                if isinstance(node, dict) and node.get("kind") == "Secret":
                    pytest.fail(f"{path}: a Secret object ({node.get('metadata')})")
                if isinstance(node, dict) and {"data", "stringData"} & node.keys():
                    assert node.get("kind") == "ConfigMap", f"{path}: data outside a ConfigMap"
        text = path.read_text()
        assert "dev-only-change-me" not in text, path


def test_the_dev_overlays_secret_file_is_ignored_by_git() -> None:
    dev = K8S / "overlays" / "dev"
    [generator] = kustomization(dev)["secretGenerator"]
    assert generator["name"] == JWT_SECRET
    files = [entry.split("=", 1)[1] for entry in generator["files"]]
    ignored = (dev / ".gitignore").read_text().split()
    assert set(files) <= set(ignored)
    if shutil.which("git"):
        tracked = subprocess.run(
            ["git", "ls-files", *[str(dev / f) for f in files]],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        ).stdout
        assert tracked == ""


def test_the_configmap_holds_only_settings_the_services_know_and_no_secret() -> None:
    config = one(BASE, "ConfigMap", "forecourt-config")["data"]
    known = {f"FORECOURT_{n.upper()}" for n in CommonSettings.model_fields}
    assert set(config) <= known
    assert config["FORECOURT_ENV"] == "production"
    assert not {k for k in config if re.search("SECRET|PASSWORD|TOKEN", k)}


@BY_SERVICE
def test_secret_values_come_only_from_secret_references(service: Service) -> None:
    allowed = {JWT_SECRET, RABBITMQ_SECRET, f"{cluster_name(service)}-app"}
    for name, entry in env_of(service).items():
        if re.search("SECRET|PASSWORD|TOKEN", name):
            assert "value" not in entry, f"{name} in plain text"
            assert entry["valueFrom"]["secretKeyRef"]["name"] in allowed
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] in allowed, f"{service.name} reads another's secret {ref['name']}"


# -- each service -----------------------------------------------------------------------------


@BY_SERVICE
def test_a_service_has_its_deployment_service_autoscaler_budget_and_database(
    service: Service,
) -> None:
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        one(BASE, kind, service.name)
    one(BASE, "Cluster", cluster_name(service))


@BY_SERVICE
def test_probes_ask_readyz_for_readiness_and_healthz_for_liveness_on_its_port(
    service: Service,
) -> None:
    main = container(service)
    port = http_port(service)
    assert main["ports"] == [{"name": "http", "containerPort": port}]
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = env_of(service)
    assert env[f"{service.env_prefix}HTTP_PORT"]["value"] == str(port)
    assert env[f"{service.env_prefix}HTTP_HOST"]["value"] == "0.0.0.0"  # noqa: S104
    svc = one(BASE, "Service", service.name)["spec"]
    assert svc["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
    pod_labels = one(BASE, "Deployment", service.name)["spec"]["template"]["metadata"]["labels"]
    assert svc["selector"].items() <= pod_labels.items()


@BY_SERVICE
def test_a_pod_runs_as_non_root_with_resources_and_time_to_stop(service: Service) -> None:
    pod = one(BASE, "Deployment", service.name)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # deploy/Dockerfile's user
    assert "USER 10001:10001" in (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    main = container(service)
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"]["drop"] == ["ALL"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= main["resources"][bound].keys()
    # preStop, then the relay's 15 s and the consumers' drain.
    assert pod["terminationGracePeriodSeconds"] >= 30


@BY_SERVICE
def test_image_and_settings_are_the_services_own(service: Service) -> None:
    main = container(service)
    assert main["image"].split(":")[0] == f"forecourt/{service.name}"
    assert main["envFrom"] == [{"configMapRef": {"name": "forecourt-config"}}]
    known = setting_names(service)
    defined: list[str] = []
    for entry in main["env"]:
        name = entry["name"]
        if name.startswith(service.env_prefix):
            assert name.removeprefix(service.env_prefix) in known, f"unknown setting {name}"
        else:
            assert not any(name.startswith(s.env_prefix) for s in SERVICES), name
        # Kubernetes expands $(NAME) only for a variable defined earlier in the list.
        for ref in re.findall(r"\$\((\w+)\)", entry.get("value", "")):
            assert ref in defined, f"{name} uses $({ref}) before it is defined"
        defined.append(name)


@BY_SERVICE
def test_a_service_reaches_its_own_database_cluster_and_the_broker(service: Service) -> None:
    cluster = one(BASE, "Cluster", cluster_name(service))
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    database = database_name(service)
    assert cluster["spec"]["bootstrap"]["initdb"]["database"] == database
    env = env_of(service)
    url = env[f"{service.env_prefix}DATABASE_URL"]["value"]
    assert url.startswith("postgresql+asyncpg://")
    assert url.endswith(f"@{cluster_name(service)}-rw:5432/{database}")
    for key in ("DATABASE_USERNAME", "DATABASE_PASSWORD"):
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == f"{cluster_name(service)}-app"
    amqp = env["FORECOURT_AMQP_URL"]["value"]
    rabbit = one(BASE, "RabbitmqCluster", "forecourt-rabbitmq")["metadata"]["name"]
    assert amqp.endswith(f"@{rabbit}:5672/")


@BY_SERVICE
def test_the_autoscaler_scales_the_deployment_on_cpu(service: Service) -> None:
    hpa = one(BASE, "HorizontalPodAutoscaler", service.name)
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": service.name,
    }
    assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
    [cpu] = [m for m in spec["metrics"] if m["type"] == "Resource"]
    assert cpu["resource"]["name"] == "cpu"


@BY_SERVICE
def test_the_disruption_budget_covers_the_pods_and_never_blocks_a_drain(service: Service) -> None:
    pdb = one(BASE, "PodDisruptionBudget", service.name)["spec"]
    pod_labels = one(BASE, "Deployment", service.name)["spec"]["template"]["metadata"]["labels"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["maxUnavailable"] == 1


def test_each_service_has_a_database_cluster_of_its_own() -> None:
    clusters = [o for o in BASE if o["kind"] == "Cluster"]
    assert sorted(c["metadata"]["name"] for c in clusters) == sorted(
        cluster_name(s) for s in SERVICES
    )


def test_rabbitmq_is_a_three_node_operator_cluster_of_a_supported_line_with_quorum_queues() -> None:
    rabbit = one(BASE, "RabbitmqCluster", "forecourt-rabbitmq")
    assert rabbit["apiVersion"] == "rabbitmq.com/v1beta1"
    assert rabbit["spec"]["replicas"] == 3
    assert rabbitmq_line(rabbit["spec"]["image"]) in SUPPORTED_RABBITMQ
    assert "default_queue_type = quorum" in rabbit["spec"]["rabbitmq"]["additionalConfig"]


# -- overlays ---------------------------------------------------------------------------------


def test_overlays_reference_the_base_and_patch_only_what_exists() -> None:
    """What can be checked without kustomize: references and patch targets."""
    assert {p.name for p in OVERLAYS} == {"dev", "prod"}
    kinds = {o["kind"] for o in BASE}
    names = {o["metadata"]["name"] for o in BASE}
    for overlay in OVERLAYS:
        k = kustomization(overlay)
        assert "../../base" in k["resources"]
        assert k["namespace"]
        for patch in k.get("patches", []):
            target = patch["target"]
            assert target["kind"] in kinds, f"{overlay.name}: no {target['kind']} in the base"
            assert target.get("name", next(iter(names))) in names
        images = {i["name"] for i in k.get("images", [])}
        assert images == {f"forecourt/{s.name}" for s in SERVICES}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay built once, from a copy with a throwaway key file for dev's generator."""
    copy = tmp_path_factory.mktemp("deploy") / "k8s"
    shutil.copytree(K8S, copy)
    (copy / "overlays" / "dev" / "jwt-secret.txt").write_text("x" * 64)
    return {o.name: build(copy / "overlays" / o.name) for o in OVERLAYS}


@needs_kustomize
@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_an_overlay_builds_every_service_in_its_namespace(
    overlay: str, built: dict[str, list[dict[str, Any]]]
) -> None:
    objects = built[overlay]
    namespace = kustomization(K8S / "overlays" / overlay)["namespace"]
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == namespace, o["metadata"]
    for service in SERVICES:
        main = container(service, objects)
        assert main["image"].startswith(f"forecourt/{service.name}:")
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        one(objects, "HorizontalPodAutoscaler", service.name)
        one(objects, "Cluster", cluster_name(service))


@needs_kustomize
def test_dev_runs_one_of_everything_with_its_generated_key(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    objects = built["dev"]
    [secret] = [o for o in objects if o["kind"] == "Secret"]
    assert secret["metadata"]["name"].startswith(f"{JWT_SECRET}-")  # hashed by the generator
    for service in SERVICES:
        assert one(objects, "Deployment", service.name)["spec"]["replicas"] == 1
        assert one(objects, "HorizontalPodAutoscaler", service.name)["spec"]["minReplicas"] == 1
        assert one(objects, "Cluster", cluster_name(service))["spec"]["instances"] == 1
        refs = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container(service, objects)["env"]
            if "secretKeyRef" in e.get("valueFrom", {})
        }
        assert secret["metadata"]["name"] in refs  # the reference follows the hashed name
    assert one(objects, "RabbitmqCluster", "forecourt-rabbitmq")["spec"]["replicas"] == 1


@needs_kustomize
def test_prod_scales_every_service_on_queue_depth_too(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    objects = built["prod"]
    assert not [o for o in objects if o["kind"] == "Secret"]  # made outside git
    for service in SERVICES:
        spec = one(objects, "HorizontalPodAutoscaler", service.name)["spec"]
        [external] = [m["external"] for m in spec["metrics"] if m["type"] == "External"]
        assert external["metric"]["name"] == "forecourt_queue_messages_ready"
        assert external["metric"]["selector"]["matchLabels"] == {"service": service.name}
        assert {m["type"] for m in spec["metrics"]} == {"Resource", "External"}
        assert ":latest" not in container(service, objects)["image"]


def test_the_manifests_and_the_dev_key_file_stay_out_of_the_images() -> None:
    """deploy/Dockerfile copies the whole context: a local jwt-secret.txt would be baked in."""
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    assert "deploy/k8s" in ignored


@pytest.mark.parametrize(("service", "script", "setting", "name"), LISTENERS, ids=lambda v: v)
def test_a_listener_runs_its_services_image_with_port_probes_and_a_service(
    service: Service, script: str, setting: str, name: str
) -> None:
    deployment = one(BASE, "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    [main] = pod["containers"]
    assert main["image"].split(":")[0] == f"forecourt/{service.name}"
    assert main["command"] == [script]
    env = {e["name"]: e for e in main["env"]}
    port = int(env[f"{service.env_prefix}{setting.upper()}"]["value"])
    assert main["ports"] == [{"name": "smtp", "containerPort": port}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["tcpSocket"] == {"port": "smtp"}
    # The service's own database, credentials by reference only.
    assert env[f"{service.env_prefix}DATABASE_URL"]["value"].endswith(
        f"@{cluster_name(service)}-rw:5432/{database_name(service)}"
    )
    for entry in env.values():
        if re.search("SECRET|PASSWORD|TOKEN", entry["name"]):
            assert "value" not in entry
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["terminationGracePeriodSeconds"] >= 30
    svc = one(BASE, "Service", name)["spec"]
    assert svc["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert [p["targetPort"] for p in svc["ports"]] == ["smtp"]
    one(BASE, "PodDisruptionBudget", name)
