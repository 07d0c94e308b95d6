"""`forecourt-token`: issue a staff token (reads FORECOURT_JWT_SECRET like the services)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from shared.auth.tokens import Role, issue_token, verify_token
from shared.settings import CommonSettings

app = typer.Typer(help="Staff tokens for Forecourt's APIs.", no_args_is_help=True)


@app.command()
def issue(
    role: Annotated[str, typer.Option(help="admin, manager, agent or consultant")],
    tenant: Annotated[str, typer.Option(help="the dealer group's id")],
    subject: Annotated[str, typer.Option(help="who the token is for")] = "cli",
    dealership: Annotated[
        list[str] | None, typer.Option(help="a dealership the token may act on (repeat)")
    ] = None,
    ttl_hours: Annotated[float, typer.Option(min=0.01, max=24 * 90)] = 8.0,
) -> None:
    """Print a signed token."""
    if role not in ("admin", "manager", "agent", "consultant"):
        raise typer.BadParameter(f"unknown role {role!r}", param_hint="--role")
    token = issue_token(
        CommonSettings(),
        subject=subject,
        role=role,  # type: ignore[arg-type]
        tenant=tenant,
        dealerships=dealership or [],
        ttl=timedelta(hours=ttl_hours),
    )
    typer.echo(token)


@app.command()
def inspect(token: str) -> None:
    """Verify a token and print its claims."""
    claims = verify_token(CommonSettings(), token)
    typer.echo(claims.model_dump_json(indent=2))


def main() -> None:
    app()


_: Role = "admin"
