"""`ferry`: the model author's command line. Errors are one line on stderr, exit code 1."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ferry.cli.package import PackageError, PackageRequest, build_package
from ferry.torchserve.config import ServingConfig


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err})") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferry", description="Ferry model tools")
    commands = parser.add_subparsers(dest="command", required=True)
    pkg = commands.add_parser("package", help="build a TorchServe .mar, its sha256 and a manifest")
    pkg.add_argument(
        "model_file", type=Path, help=".pt2 (torch.export), TorchScript, or state dict"
    )
    pkg.add_argument("--name", required=True, help="TorchServe model name")
    pkg.add_argument("--version", required=True, help="model version (spec.model.version)")
    pkg.add_argument("--model-class", help="FILE.py:ClassName, needed for a state dict")
    pkg.add_argument("--model-args", type=_json, default={}, help="JSON kwargs for the class")
    pkg.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    pkg.add_argument("--quantize", choices=["int8"], help="dynamic int8 Linear layers (CPU)")
    pkg.add_argument("--compile", action="store_true", help="torch.compile at load time")
    pkg.add_argument("--warmup", type=int, default=0, help="warm-up passes before ready")
    pkg.add_argument("--input-shape", type=_ints, help="one instance's shape, e.g. 3,224,224")
    pkg.add_argument("--input-dtype", default="float32")
    pkg.add_argument("--workers", type=int, default=1)
    pkg.add_argument("--batch-size", type=int, default=1)
    pkg.add_argument("--max-batch-delay-ms", type=int, default=0)
    pkg.add_argument("--allow-unsafe-pickle", action="store_true")
    pkg.add_argument("--uri", help="where the archive will be fetched from (manifest)")
    pkg.add_argument(
        "--image", help="serving image for the manifest (default: the operator's default)"
    )
    pkg.add_argument("--probe-request", type=_json, help="golden request JSON (manifest)")
    pkg.add_argument("--probe-shape", type=_ints, help="expected output shape")
    pkg.add_argument("--probe-values", type=_json, help="expected output values")
    pkg.add_argument("--output-dir", type=Path, default=Path())
    return parser


def _handler_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"precision": args.precision, "inputDtype": args.input_dtype}
    optional = {
        "modelArgs": args.model_args or None,
        "quantize": args.quantize,
        "compile": args.compile or None,
        "warmup": args.warmup or None,
        "inputShape": args.input_shape,
    }
    options.update({key: value for key, value in optional.items() if value is not None})
    return options


def _probe(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.probe_request is None:
        return None
    expect = {"shape": args.probe_shape, "values": args.probe_values}
    return {"request": args.probe_request, "expect": {k: v for k, v in expect.items() if v}}


def package(args: argparse.Namespace) -> int:
    request = PackageRequest(
        model_file=args.model_file,
        serving=ServingConfig(
            model_name=args.name,
            model_version=args.version,
            workers=args.workers,
            batch_size=args.batch_size,
            max_batch_delay_ms=args.max_batch_delay_ms,
        ),
        output_dir=args.output_dir,
        model_class=args.model_class,
        handler_options=_handler_options(args),
        allow_unsafe_pickle=args.allow_unsafe_pickle,
        uri=args.uri,
        image=args.image,
        probe=_probe(args),
    )
    result = build_package(request)
    print(f"archive  {result.archive}")
    print(f"sha256   {result.sha256}")
    print(f"manifest {result.manifest}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return package(args)
    except PackageError as err:
        print(f"ferry package: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
