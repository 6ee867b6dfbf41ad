"""Inspect a downloaded model archive before it may be served. Nothing in it is executed."""

import json
import tempfile
import zipfile
from pathlib import Path

from ferry.runtime.modelfile import ModelFormat, UnrecognisedModelError, detect_format

MANIFEST = "MAR-INF/MANIFEST.json"


class InvalidArchiveError(ValueError):
    """Not a TorchServe model archive that could load."""


class UnsafeArchiveError(ValueError):
    """The archive's model is a pickled full model and unsafe pickles were not allowed."""


def inspect_archive(path: Path, *, allow_unsafe_pickle: bool) -> ModelFormat | None:
    """Check `path` is a loadable .mar; the model file's format (None: handler-only archive)."""
    if not zipfile.is_zipfile(path):
        raise InvalidArchiveError("not a model archive (.mar files are zip files)")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read(MANIFEST))
            serialized = manifest.get("model", {}).get("serializedFile")
            if not serialized:
                return None
            with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
                model_file = Path(archive.extract(serialized, scratch))
                model_format = detect_format(model_file)
    except KeyError as err:
        raise InvalidArchiveError(f"incomplete model archive: {err.args[0]}") from None
    except (zipfile.BadZipFile, ValueError) as err:
        if isinstance(err, UnrecognisedModelError):
            raise InvalidArchiveError(str(err)) from None
        raise InvalidArchiveError(f"corrupt model archive: {err}") from None
    if model_format is ModelFormat.PICKLE and not allow_unsafe_pickle:
        raise UnsafeArchiveError(
            f"{serialized} is a pickled full model, which runs code when loaded "
            "(pass --allow-unsafe-pickle to accept it)"
        )
    return model_format
