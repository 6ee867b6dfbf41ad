"""The `kubectl ferry` command group: kubectl's global flags, then one command per action."""

import click

from ferry.cli.kubectl import actions, get, rollback, status
from ferry.cli.kubectl.flags import Flags, kube_flags

EXAMPLES = """\b
Examples:
  kubectl ferry get resnet --watch        # the rollout, live
  kubectl ferry promote resnet            # leave the current step now
  kubectl ferry promote resnet --full     # skip to 100%
  kubectl ferry pause resnet / resume resnet
  kubectl ferry abort resnet              # back to the stable revision
  kubectl ferry retry resnet              # try the aborted revision again
  kubectl ferry rollback resnet --to 1.0.0
  kubectl ferry history resnet
  kubectl ferry status resnet --timeout 5m && echo serving
"""


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXAMPLES,
)
@kube_flags
@click.pass_context
def cli(
    ctx: click.Context, namespace: str | None, kubeconfig: str | None, context: str | None
) -> None:
    """Steer Ferry's model rollouts (ModelDeployments, serving.ferry.dev).

    Promote, pause, abort and retry write annotations naming the canary revision they act
    on, so a GitOps re-apply of the manifest neither undoes them nor shows drift.
    """
    ctx.obj = Flags(namespace, kubeconfig, context)


for command in (get.get, *actions.COMMANDS, rollback.rollback, rollback.history, status.status):
    cli.add_command(command)


def run() -> None:
    cli(prog_name="kubectl ferry")
