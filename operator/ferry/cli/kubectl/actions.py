"""`promote`, `abort`, `retry`, `pause`, `resume`: annotations the operator acts on."""

import click

from ferry.api.parse import parse_status
from ferry.cli.kubectl import steer
from ferry.cli.kubectl.client import Kube
from ferry.cli.kubectl.errors import CliError
from ferry.cli.kubectl.flags import with_kube


def act(kube: Kube, name: str, verb: steer.Verb) -> None:
    md = kube.get(name)
    annotations = (md.get("metadata") or {}).get("annotations") or {}
    try:
        change = steer.plan(verb, kube.ref(name), parse_status(md), annotations)
    except steer.RefusedError as refusal:
        raise CliError(str(refusal)) from None
    if not change.empty:
        kube.merge_patch(name, change.merge_patch())
    click.echo(change.summary)


@click.command()
@click.argument("name")
@click.option("--full", is_flag=True, help="Skip the remaining steps: 100% at once.")
@with_kube
def promote(kube: Kube, name: str, full: bool) -> None:
    """Leave the current step now (its pause and analysis skipped), or go to 100%."""
    act(kube, name, "promote-full" if full else "promote")


@click.command()
@click.argument("name")
@with_kube
def abort(kube: Kube, name: str) -> None:
    """Roll the canary back to zero; it stays so until `retry`."""
    act(kube, name, "abort")


@click.command()
@click.argument("name")
@with_kube
def retry(kube: Kube, name: str) -> None:
    """Start a rolled-back or aborted revision again from step 1."""
    act(kube, name, "retry")


@click.command()
@click.argument("name")
@with_kube
def pause(kube: Kube, name: str) -> None:
    """Hold the rollout at its current step (analysis still runs)."""
    act(kube, name, "pause")


@click.command()
@click.argument("name")
@with_kube
def resume(kube: Kube, name: str) -> None:
    """Lift a `pause`."""
    act(kube, name, "resume")


COMMANDS = (promote, abort, retry, pause, resume)
