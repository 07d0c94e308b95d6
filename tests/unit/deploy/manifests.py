"""Reading deploy/: compose files and kustomize trees, without Docker or a cluster.

`resolve` follows a kustomization's `resources` (files and directories) the way kustomize
does, without its transformers: enough for the base, which has none. Overlays are built with
`kubectl kustomize` (or `kustomize build`) when one of them is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from scripts.catalogue import SERVICES, Service, load
from tests.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATION = "kustomization.yaml"
# The RabbitMQ lines the services are tested on and documented for (deploy/README.md).
SUPPORTED_RABBITMQ = ((3, 10), (3, 11), (3, 12), (3, 13))


# Other processes of a service (scripts.catalogue `listeners`): (service, console script, the
# setting of its port, its compose block and Kubernetes name: the script without "forecourt-").
LISTENERS = tuple(
    (service, script, setting, script.removeprefix("forecourt-"))
    for service in SERVICES
    for script, setting in service.listeners
)


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def yaml_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml"))


def kustomization(directory: Path) -> dict[str, Any]:
    [doc] = documents(directory / KUSTOMIZATION)
    return doc


def resolve(directory: Path) -> list[dict[str, Any]]:
    """The objects a kustomization's `resources` name, depth first, in order."""
    objects: list[dict[str, Any]] = []
    for entry in kustomization(directory).get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects += resolve(target)
        else:
            objects += documents(target)
    return objects


def kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def build(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    assert command is not None
    result = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d is not None]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def http_port(service: Service) -> int:
    """The port the service listens on unless told otherwise (its settings' default)."""
    return int(load(service.settings).model_fields["http_port"].default)


def setting_names(service: Service) -> set[str]:
    return {name.upper() for name in load(service.settings).model_fields}


def database_name(service: Service) -> str:
    default = str(load(service.settings).model_fields["database_url"].default)
    return default.rsplit("/", 1)[1]


def rabbitmq_line(image: str) -> tuple[int, int]:
    match = re.search(r":(\d+)\.(\d+)", image)
    assert match, f"no version in the image {image}"
    return int(match[1]), int(match[2])


__all__ = ["SERVICES", "Service"]
