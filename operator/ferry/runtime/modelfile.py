"""Recognise a serialized torch model's format without executing it.

Shared by `ferry package` (before building an archive) and `ferry-fetch` (before anything
is served). A torch.save file is unpickled only by torch's `weights_only` unpickler, which
refuses anything but tensors and plain containers, so a pickled full model is recognised
without running its code.
"""

import pickle
import warnings
import zipfile
from enum import StrEnum
from pathlib import Path


class ModelFormat(StrEnum):
    """The `handler.format` values of Ferry's TorchServe handler."""

    EXPORT = "export"  # torch.export program (.pt2), no code runs on load
    TORCHSCRIPT = "torchscript"
    STATE_DICT = "state_dict"  # tensors only; the model class ships in the archive
    PICKLE = "pickle"  # a full pickled model: runs arbitrary code on load


class UnrecognisedModelError(ValueError):
    """The file is not a torch model Ferry can serve."""


def detect_format(path: Path) -> ModelFormat:
    """The format of the model file at `path`; UnrecognisedModelError if it has none."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(
            name.endswith(("/archive_format", "/serialized_exported_program.json"))
            for name in names
        ):
            return ModelFormat.EXPORT
        if any(name.endswith("/constants.pkl") for name in names):
            return ModelFormat.TORCHSCRIPT
        if not any(name.endswith("/data.pkl") for name in names):
            raise UnrecognisedModelError(f"{path.name}: a zip file but not a torch model")
    return _torch_save_format(path)


def _torch_save_format(path: Path) -> ModelFormat:
    import torch  # noqa: PLC0415 - heavy; only needed for torch.save files

    try:
        # mmap keeps a large state dict out of memory; torch supports it for zip files only.
        mmap = zipfile.is_zipfile(path)
        with warnings.catch_warnings():  # torch warns about pickle protocols; we decide here
            warnings.simplefilter("ignore")
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        # A global outside torch's allowlist is code that would run on load. A bare pickle
        # stream the weights-only unpickler cannot read may hide such code just as well.
        if "Unsupported global" in str(err) or _starts_like_pickle(path):
            return ModelFormat.PICKLE
        raise UnrecognisedModelError(f"{path.name}: not a torch model file") from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise UnrecognisedModelError(
            f"{path.name}: not a torch model ({_first_line(err)})"
        ) from None
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise UnrecognisedModelError(f"{path.name}: a torch.save file but not a state dict")
    return ModelFormat.STATE_DICT


def _starts_like_pickle(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(1) == pickle.PROTO


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
