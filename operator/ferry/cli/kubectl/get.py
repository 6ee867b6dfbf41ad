"""`kubectl ferry get NAME [--watch]`: the rollout on one screen."""

import time
from datetime import UTC, datetime

import click
from rich.console import Console
from rich.live import Live

from ferry.api.parse import parse_status
from ferry.cli.kubectl.client import Kube
from ferry.cli.kubectl.flags import with_kube
from ferry.cli.kubectl.render import plain, rich_screen
from ferry.cli.kubectl.screen import Screen, build

POLL_SECONDS = 1.0
# Screens compared for change are built against a fixed clock, so a pipe gets a new screen
# when something happened, not because an age went up by a second.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def snapshot(kube: Kube, name: str, now: datetime) -> Screen:
    md = kube.get(name)
    return build(md, parse_status(md), kube.pods(name), kube.events(md), now)


@click.command()
@click.argument("name")
@click.option("-w", "--watch", is_flag=True, help="Redraw whenever something changes.")
@with_kube
def get(kube: Kube, name: str, watch: bool) -> None:
    """Revisions, step and weight, analysis, pods, autoscaling and events of NAME."""
    console = Console(highlight=False)
    if not watch:
        screen = snapshot(kube, name, datetime.now(UTC))
        if console.is_terminal:
            console.print(rich_screen(screen))
        else:
            click.echo(plain(screen), nl=False)
        return
    try:
        if console.is_terminal:
            _watch_live(kube, name, console)
        else:
            _watch_plain(kube, name)
    except KeyboardInterrupt:
        pass


def _watch_live(kube: Kube, name: str, console: Console) -> None:
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            now = datetime.now(UTC)
            footer = f"{now:%H:%M:%S} watching {kube.namespace}/{name}; Ctrl-C to stop"
            live.update(rich_screen(snapshot(kube, name, now), footer), refresh=True)
            time.sleep(POLL_SECONDS)


def _watch_plain(kube: Kube, name: str) -> None:
    last: Screen | None = None
    while True:
        md = kube.get(name)
        status, pods, events = parse_status(md), kube.pods(name), kube.events(md)
        key = build(md, status, pods, events, EPOCH)
        if key != last:
            click.echo(plain(build(md, status, pods, events, datetime.now(UTC))))
            last = key
        time.sleep(POLL_SECONDS)
