"""`rollback NAME [--to VERSION] [--force]` and `history NAME`."""

from datetime import UTC, datetime

import click
from rich.console import Console

from ferry.api.parse import parse_status
from ferry.cli.kubectl import revert
from ferry.cli.kubectl.client import Kube
from ferry.cli.kubectl.errors import CliError
from ferry.cli.kubectl.flags import with_kube
from ferry.cli.kubectl.render import plain_section, rich_section
from ferry.cli.kubectl.screen import history_section
from ferry.cli.kubectl.table import short_sha


@click.command()
@click.argument("name")
@click.option("--to", "version", metavar="VERSION", help="A version from `history`.")
@click.option("--force", is_flag=True, help="Set it even when a GitOps tool owns spec.model.")
@with_kube
def rollback(kube: Kube, name: str, version: str | None, force: bool) -> None:
    """Set spec.model back to a version in history (default: the previous stable)."""
    md, ref = kube.get(name), kube.ref(name)
    status = parse_status(md)
    try:
        entry = revert.rollback_target(status, (md.get("spec") or {}).get("model") or {}, version)
    except revert.NotInHistoryError as refusal:
        raise CliError(f"{ref}: {refusal}") from None
    managers = revert.other_managers((md.get("metadata") or {}).get("managedFields") or [])
    if managers and not force:
        raise CliError(revert.gitops_refusal(ref, managers, entry.version))
    patch = revert.model_patch(entry)
    if force:
        kube.force_apply(name, patch)
    else:
        kube.merge_patch(name, patch)
    if entry.outcome == "Promoted":
        how = "it served as stable before: straight to 100% without steps or analysis"
    else:
        how = f"it was {entry.outcome} before: it rolls out with steps and analysis again"
    taken = f" (taken from {', '.join(managers)})" if managers else ""
    click.echo(
        f"rolled back {ref} to model {entry.version}: revision {entry.revision}, sha256 "
        f"{short_sha(entry.sha256)}; {how}{taken}"
    )


@click.command()
@click.argument("name")
@with_kube
def history(kube: Kube, name: str) -> None:
    """The revision history: version, outcome, reason and when, newest first."""
    section = history_section(parse_status(kube.get(name)), datetime.now(UTC))
    console = Console(highlight=False)
    if console.is_terminal:
        console.print(rich_section(section))
    else:
        click.echo("\n".join(plain_section(section)))
