"""Write each service's OpenAPI spec to docs/openapi/<service>.json.

The app is built by its factory but its lifespan never runs: no database, no broker needed.
`--check` writes nothing and exits 1 when a committed spec differs from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from fastapi import FastAPI

from scripts.catalogue import Service, load, select

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = REPO_ROOT / "docs" / "openapi"


def render(spec: Any) -> str:
    return json.dumps(spec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi(service: Service) -> str:
    app: FastAPI = load(service.app_factory)(service.load_settings())
    return render(app.openapi())


def sync_files(rendered: dict[Path, str], *, check: bool) -> list[str]:
    """Write (or, with `check`, only compare) the files; returns what differs."""
    changed = []
    for path, content in rendered.items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        changed.append(str(path.relative_to(REPO_ROOT)))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    return changed


def report(changed: list[str], *, check: bool) -> None:
    if check and changed:
        for name in changed:
            typer.echo(f"out of date: {name}", err=True)
        typer.echo("the code changed its API: run `make docs` and commit the result", err=True)
        raise typer.Exit(1)
    for name in changed:
        typer.echo(f"wrote {name}")


def main(
    services: Annotated[list[str] | None, typer.Argument(help="services (default: all)")] = None,
    check: Annotated[bool, typer.Option(help="compare only; exit 1 if out of date")] = False,
) -> None:
    rendered = {OUT_DIR / f"{s.name}.json": openapi(s) for s in select(services)}
    report(sync_files(rendered, check=check), check=check)


if __name__ == "__main__":
    typer.run(main)
