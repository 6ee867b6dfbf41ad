"""kubectl's global flags (-n, --kubeconfig, --context), accepted before or after the command.

kubectl hands a plugin every argument after its name, and people write both
`kubectl ferry -n ml get x` and `kubectl ferry get x -n ml`: the group and each command take
the flags, and a command's own win.
"""

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from ferry.cli.kubectl.client import Kube


@dataclass(frozen=True)
class Flags:
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None


def kube_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in (
        click.option("--context", help="The kubeconfig context to use."),
        click.option(
            "--kubeconfig",
            help="Path to the kubeconfig file (default: $KUBECONFIG, ~/.kube/config).",
        ),
        click.option("-n", "--namespace", help="The namespace (default: the context's namespace)."),
    ):
        command = option(command)
    return command


def with_kube(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give `command` a connected `Kube` as its first argument, built from the flags."""

    def run(
        ctx: click.Context,
        namespace: str | None,
        kubeconfig: str | None,
        context: str | None,
        **kwargs: Any,
    ) -> Any:
        group = ctx.find_object(Flags) or Flags()
        kube = Kube(
            kubeconfig or group.kubeconfig, context or group.context, namespace or group.namespace
        )
        return command(kube, **kwargs)

    functools.update_wrapper(run, command)
    return kube_flags(click.pass_context(run))
