"""`ferry package`: a saved torch model -> a verified TorchServe archive and its manifest.

The archive holds the model file, Ferry's handler (model-handlers/ferry_handler.py), the
model class module when the format needs one, and a model-config.yaml with the handler's
deploy-time options. Workers and batching go into the manifest (spec.runtime), from which
the operator renders config.properties. Validation of those options is the
handler's own (`Options.from_config`), so packaging and serving can never disagree.
"""

import hashlib
import importlib.util
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ferry.cli.manifest import model_deployment
from ferry.runtime.modelfile import ModelFormat, UnrecognisedModelError, detect_format
from ferry.torchserve.config import ServingConfig, render_model_config

HANDLER_FILE = "ferry_handler.py"


class PackageError(Exception):
    """A problem with the user's input, reported as one line."""


@dataclass(frozen=True)
class PackageRequest:
    model_file: Path
    serving: ServingConfig
    output_dir: Path
    model_class: str | None = None  # "path/to/module.py:ClassName"
    handler_options: dict[str, Any] = field(default_factory=dict)  # camelCase, as in the yaml
    allow_unsafe_pickle: bool = False
    uri: str | None = None
    image: str | None = None
    probe: dict[str, Any] | None = None


@dataclass(frozen=True)
class PackageResult:
    archive: Path
    sha256: str
    manifest: Path


def build_package(request: PackageRequest) -> PackageResult:
    """Validate, archive, hash and describe one model; PackageError on bad input."""
    model_format = _checked_format(request)
    class_file, handler_section = _handler_section(request, model_format)
    _validate_handler_options(handler_section)
    request.output_dir.mkdir(parents=True, exist_ok=True)
    archive = _archive(request, class_file, handler_section)
    digest = sha256_of(archive)
    archive.with_name(archive.name + ".sha256").write_text(f"{digest}  {archive.name}\n")
    serving = request.serving
    manifest = request.output_dir / f"{serving.model_name}.yaml"
    document = model_deployment(
        name=serving.model_name.lower().replace("_", "-").replace(".", "-"),
        model_name=serving.model_name,
        version=serving.model_version,
        uri=request.uri or archive.resolve().as_uri(),
        sha256=digest,
        workers=serving.workers,
        batch_size=serving.batch_size,
        max_batch_delay_ms=serving.max_batch_delay_ms,
        image=request.image,
        probe=request.probe,
    )
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    return PackageResult(archive=archive, sha256=digest, manifest=manifest)


def sha256_of(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _checked_format(request: PackageRequest) -> ModelFormat:
    if not request.model_file.is_file():
        raise PackageError(f"model file {request.model_file} not found")
    try:
        model_format = detect_format(request.model_file)
    except UnrecognisedModelError as err:
        raise PackageError(str(err)) from None
    if model_format is ModelFormat.PICKLE and not request.allow_unsafe_pickle:
        raise PackageError(
            f"{request.model_file.name} is a pickled full model, which runs code when loaded; "
            "save a state_dict (with --model-class), a torch.export program or TorchScript, "
            "or pass --allow-unsafe-pickle"
        )
    needs_class = model_format in (ModelFormat.STATE_DICT, ModelFormat.PICKLE)
    if needs_class and not request.model_class:
        raise PackageError(
            f"{request.model_file.name} is a {model_format}: pass --model-class FILE.py:ClassName"
        )
    return model_format


def _handler_section(
    request: PackageRequest, model_format: ModelFormat
) -> tuple[Path | None, dict[str, Any]]:
    section: dict[str, Any] = {"format": str(model_format), **request.handler_options}
    if model_format is ModelFormat.PICKLE:
        section["allowUnsafePickle"] = True
    if not request.model_class or model_format not in (ModelFormat.STATE_DICT, ModelFormat.PICKLE):
        return None, section
    file_part, _, class_name = request.model_class.rpartition(":")
    class_file = Path(file_part)
    if not file_part or not class_name or class_file.suffix != ".py":
        raise PackageError(f"--model-class must be FILE.py:ClassName, got {request.model_class!r}")
    if not class_file.is_file():
        raise PackageError(f"model class file {class_file} not found")
    section["modelClass"] = f"{class_file.stem}:{class_name}"
    return class_file, section


def handler_path() -> Path:
    """Ferry's handler: shipped inside the wheel, or in the source tree's model-handlers/."""
    packaged = Path(__file__).resolve().parents[1] / "model_handlers" / HANDLER_FILE
    source_tree = Path(__file__).resolve().parents[3] / "model-handlers" / HANDLER_FILE
    return packaged if packaged.is_file() else source_tree


def _validate_handler_options(section: dict[str, Any]) -> None:
    spec = importlib.util.spec_from_file_location("ferry_handler", handler_path())
    if spec is None or spec.loader is None:
        raise PackageError(f"Ferry's handler is missing ({handler_path()}); reinstall ferry")
    handler = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = handler  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(handler)
    try:
        handler.Options.from_config(section)
    except (ValueError, TypeError) as err:
        raise PackageError(f"invalid handler option: {err}") from None


def _archive(request: PackageRequest, class_file: Path | None, section: dict[str, Any]) -> Path:
    # Imported here: torch-model-archiver is part of the runtime extra, not the operator.
    from model_archiver.model_archiver_config import ModelArchiverConfig  # noqa: PLC0415
    from model_archiver.model_archiver_error import ModelArchiverError  # noqa: PLC0415
    from model_archiver.model_packaging import generate_model_archive  # noqa: PLC0415

    serving = request.serving
    with tempfile.TemporaryDirectory(prefix="ferry-package-") as scratch:
        config_file = Path(scratch) / "model-config.yaml"
        config_file.write_text(render_model_config(section))
        config = ModelArchiverConfig(
            model_name=serving.model_name,
            handler=str(handler_path()),
            version=serving.model_version,
            serialized_file=str(request.model_file),
            extra_files=str(class_file) if class_file else None,
            export_path=str(request.output_dir),
            force=True,
            config_file=str(config_file),
        )
        logging.getLogger().setLevel(logging.CRITICAL)  # the archiver logs its own errors
        try:
            generate_model_archive(config)
        except ModelArchiverError as err:
            raise PackageError(f"torch-model-archiver: {err}") from None
    return request.output_dir / serving.archive_file
