"""`kubectl ferry`: the kubectl plugin for Ferry's rollouts (executable `kubectl-ferry`)."""

import sys


def main() -> None:
    try:
        from ferry.cli.kubectl.app import run  # noqa: PLC0415 - needs the optional extra
    except ImportError as missing:
        sys.exit(f"error: kubectl ferry needs {missing.name}: pip install 'ferry[kubectl]'")
    run()
