"""`kubectl ferry status NAME [--timeout 60s]`: exit 0 only when Ready, for scripts."""

import re
import time

import click

from ferry.api.rollout import DURATION_PATTERN, duration_seconds
from ferry.cli.kubectl.client import Kube
from ferry.cli.kubectl.errors import CliError
from ferry.cli.kubectl.flags import with_kube
from ferry.cli.kubectl.readiness import verdict

POLL_SECONDS = 1.0


def seconds(_ctx: click.Context, _param: click.Parameter, value: str) -> int:
    """`--timeout`: 90, 30s, 5m or 1h30m, as kubectl wait takes it."""
    text = value.strip()
    if text.isdecimal():
        return int(text)
    if text and re.fullmatch(DURATION_PATTERN, text):
        return duration_seconds(text)
    raise click.BadParameter(f"{text!r} is not a duration such as 30s, 5m or 1h30m")


@click.command()
@click.argument("name")
@click.option(
    "--timeout", callback=seconds, default="0s", metavar="DURATION", show_default=True,
    help="How long to wait for Ready (0s: answer now).",
)  # fmt: skip
@with_kube
def status(kube: Kube, name: str, timeout: int) -> None:
    """Exit 0 when NAME is Ready for its current generation, 1 otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        seen = verdict(kube.ref(name), kube.get(name))
        if seen.ready:
            click.echo(seen.text)
            return
        if time.monotonic() >= deadline:
            waited = f" after {timeout}s" if timeout else ""
            raise CliError(f"not ready{waited}: {seen.text}")
        time.sleep(POLL_SECONDS)
