"""python -m e2e.images build | verify  (see the package docstring and docs/images.md)."""

import argparse
import sys

from . import ImagesError, default_cache
from .build import build_images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e2e.images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="build the stale images and update the containerd seed")
    commands.add_parser(
        "verify",
        help="prove clones of the seed run the images: torch and TorchServe import, pause, "
        "two clones at once, a packaged model served by ferry-serve",
    )
    args = parser.parse_args(argv)
    cache = default_cache()
    try:
        if args.command == "build":
            build_images(cache)
        else:
            from .verify import verify  # noqa: PLC0415 - needs torch; a build does not

            verify(cache)
    except ImagesError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
