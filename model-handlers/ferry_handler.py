"""Ferry's generic TorchServe handler.

Packaged into every `.mar` by `ferry package` and registered as `ferry_handler:handle`.
Self-contained on purpose: it imports only torch and the standard library, so an archive
serves on any TorchServe image that has torch.

Requests are JSON, one instance batch per request:
    [[...], ...]                       a (nested) list: the model's single positional input
    {"data": [[...], ...]}             the same, wrapped
    {"inputs": {"x": [...], ...}}      named tensors, passed to the model as keyword arguments
Dimension 0 is the instance dimension. Requests of a TorchServe batch that share trailing
shapes are concatenated and run in one forward pass; the output is split back by rows.
A request that cannot be parsed or does not match `inputShape` gets 400 on its own; its
neighbours still succeed.

Deploy-time options come from the `handler:` section of the archive's model-config.yaml
(see docs/runtime.md): format, modelClass, modelArgs, precision, quantize, compile, warmup,
inputShape, inputDtype, allowUnsafePickle.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch

logger = logging.getLogger(__name__)

FORMATS = ("export", "torchscript", "state_dict", "pickle")
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
INPUT_DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}
JSON_CONTENT_TYPE = "application/json"


class BadRequestError(ValueError):
    """The request cannot be given to the model; answered with 400."""


@dataclass(frozen=True)
class Options:
    """Validated `handler:` section of model-config.yaml."""

    format: str
    model_class: str | None = None  # "module:Class", the module shipped in the archive
    model_args: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    quantize: str | None = None  # "int8": dynamic quantization of Linear layers, CPU only
    compile: bool = False
    warmup: int = 0
    input_shape: list[int] | dict[str, list[int]] | None = None  # per instance, no batch dim
    input_dtype: str = "float32"
    allow_unsafe_pickle: bool = False

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Options:
        opts = cls(
            format=section.get("format", ""),
            model_class=section.get("modelClass"),
            model_args=dict(section.get("modelArgs") or {}),
            precision=section.get("precision", "fp32"),
            quantize=section.get("quantize"),
            compile=bool(section.get("compile", False)),
            warmup=int(section.get("warmup", 0)),
            input_shape=section.get("inputShape"),
            input_dtype=section.get("inputDtype", "float32"),
            allow_unsafe_pickle=bool(section.get("allowUnsafePickle", False)),
        )
        opts.validate()
        return opts

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"handler.format must be one of {FORMATS}, got {self.format!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"handler.precision must be one of {sorted(PRECISIONS)}")
        if self.input_dtype not in INPUT_DTYPES:
            raise ValueError(f"handler.inputDtype must be one of {sorted(INPUT_DTYPES)}")
        if self.quantize not in (None, "int8"):
            raise ValueError("handler.quantize must be int8 or absent")
        if self.quantize and self.format not in ("state_dict", "pickle"):
            raise ValueError("handler.quantize needs an eager model (format state_dict)")
        if self.quantize and self.precision != "fp32":
            raise ValueError("handler.quantize works on fp32 models only")
        if self.format == "state_dict" and ":" not in (self.model_class or ""):
            raise ValueError("handler.modelClass must be 'module:Class' for state_dict")
        if self.format == "pickle" and not self.allow_unsafe_pickle:
            raise ValueError("pickled full models execute code on load; set allowUnsafePickle")
        if self.warmup and self.input_shape is None:
            raise ValueError("handler.warmup needs handler.inputShape")


def load_model(path: str, model_dir: str, opts: Options, device: torch.device) -> Any:
    """Load the serialized model in the format the archive declares, without running pickles."""
    if opts.format == "export":
        return torch.export.load(path).module().to(device)
    if opts.format == "torchscript":
        return torch.jit.load(path, map_location=device).eval()
    if opts.format == "state_dict":
        assert opts.model_class is not None  # checked by Options.validate
        model = _model_class(model_dir, opts.model_class)(**opts.model_args)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model.to(device).eval()
    # format == "pickle", allowed explicitly (Options.validate refuses it otherwise).
    return torch.load(path, map_location=device, weights_only=False).eval()


def _model_class(model_dir: str, spec: str) -> Any:
    module_name, class_name = spec.split(":", 1)
    module_path = os.path.join(model_dir, f"{module_name}.py")
    module_spec = importlib.util.spec_from_file_location(module_name, module_path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"model class module {module_path} not found in the archive")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, class_name)


def optimize(model: Any, opts: Options, device: torch.device) -> Any:
    """Apply precision, quantization and compilation as configured."""
    if opts.precision != "fp32":
        model = model.to(PRECISIONS[opts.precision])
    if opts.quantize == "int8":
        if device.type != "cpu":
            raise ValueError("int8 dynamic quantization runs on CPU only")
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, torch.qint8)
    if opts.compile:
        model = torch.compile(model)
    return model


def parse_request(body: Any, opts: Options) -> dict[str, torch.Tensor] | torch.Tensor:
    """One request body -> a positional tensor or named tensors; BadRequestError if unusable."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = json.loads(body)
        except ValueError as err:
            raise BadRequestError(f"body is not JSON: {err}") from None
    if isinstance(body, dict) and isinstance(body.get("inputs"), dict):
        return {name: _tensor(value, opts, name) for name, value in body["inputs"].items()}
    if isinstance(body, dict) and "data" in body:
        body = body["data"]
    if not isinstance(body, list):
        raise BadRequestError('expected a JSON list, {"data": [...]} or {"inputs": {...}}')
    return _tensor(body, opts, None)


def _tensor(value: Any, opts: Options, name: str | None) -> torch.Tensor:
    label = f"input {name!r}" if name else "input"
    try:
        tensor = torch.tensor(value, dtype=INPUT_DTYPES[opts.input_dtype])
    except (TypeError, ValueError, RuntimeError) as err:
        raise BadRequestError(f"{label} is not a rectangular list of numbers: {err}") from None
    if tensor.dim() == 0 or tensor.shape[0] == 0:
        raise BadRequestError(f"{label} needs at least one instance along dimension 0")
    expected = opts.input_shape.get(name) if isinstance(opts.input_shape, dict) else None
    if name is None and isinstance(opts.input_shape, list):
        expected = opts.input_shape
    if expected is not None and list(tensor.shape[1:]) != list(expected):
        raise BadRequestError(
            f"{label} instances have shape {list(tensor.shape[1:])}, want {expected}"
        )
    return tensor


def _signature(inputs: dict[str, torch.Tensor] | torch.Tensor) -> tuple[Any, ...]:
    if isinstance(inputs, torch.Tensor):
        return (None, tuple(inputs.shape[1:]))
    return tuple(sorted((name, tuple(t.shape[1:])) for name, t in inputs.items()))


def _rows(inputs: dict[str, torch.Tensor] | torch.Tensor) -> int:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    counts = {int(t.shape[0]) for t in inputs.values()}
    if len(counts) != 1:
        raise BadRequestError(f"named inputs disagree on the instance count: {sorted(counts)}")
    return counts.pop()


def _to_json(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        if output.is_floating_point() and output.dtype != torch.float64:
            output = output.float()
        return output.cpu().tolist()
    if isinstance(output, dict):
        return {key: _to_json(value) for key, value in output.items()}
    if isinstance(output, (list, tuple)):
        return [_to_json(value) for value in output]
    return output


def _split(output: Any, sizes: list[int]) -> list[Any]:
    """Split a batched model output back into one output per request."""
    if isinstance(output, torch.Tensor):
        if output.dim() == 0 or output.shape[0] != sum(sizes):
            raise RuntimeError(f"model output {list(output.shape)} has no batch dim {sum(sizes)}")
        return list(torch.split(output, sizes))
    if isinstance(output, dict):
        parts = {key: _split(value, sizes) for key, value in output.items()}
        return [{key: parts[key][i] for key in parts} for i in range(len(sizes))]
    if isinstance(output, (list, tuple)):
        parts_list = [_split(value, sizes) for value in output]
        return [[part[i] for part in parts_list] for i in range(len(sizes))]
    raise RuntimeError(f"unsupported model output type {type(output).__name__}")


class FerryService:
    """One model, loaded once per worker; `handle` answers one TorchServe batch."""

    def __init__(self) -> None:
        self.initialized = False
        self.model: Any = None
        self.opts: Options | None = None
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.load_seconds = 0.0
        self.warmup_seconds = 0.0  # part of load_seconds; with compile on, mostly compilation
        self.batches = 0  # TorchServe batches answered, to show batching works
        self.requests = 0
        self.largest_batch = 0

    def initialize(self, context: Any) -> None:
        started = time.monotonic()
        props = context.system_properties
        model_dir = props["model_dir"]
        gpu_id = props.get("gpu_id")
        if torch.cuda.is_available() and gpu_id is not None:
            self.device = torch.device(f"cuda:{gpu_id}")
        self.opts = opts = Options.from_config((context.model_yaml_config or {}).get("handler", {}))
        serialized = context.manifest["model"]["serializedFile"]
        model = load_model(os.path.join(model_dir, serialized), model_dir, opts, self.device)
        self.model = optimize(model, opts, self.device)
        self.dtype = PRECISIONS[opts.precision]
        warmup_started = time.monotonic()
        self._warm_up(int(props.get("batch_size") or 1))
        self.warmup_seconds = time.monotonic() - warmup_started
        self.load_seconds = time.monotonic() - started
        self.initialized = True
        logger.info("ferry handler ready: %s", json.dumps(self.describe()))

    def _warm_up(self, batch_size: int) -> None:
        assert self.opts is not None
        shape = self.opts.input_shape
        dtype = INPUT_DTYPES[self.opts.input_dtype]
        for _ in range(self.opts.warmup):
            for rows in sorted({1, batch_size}):
                if isinstance(shape, dict):
                    self.forward(
                        {n: torch.zeros([rows, *s], dtype=dtype) for n, s in shape.items()}
                    )
                else:
                    self.forward(torch.zeros([rows, *(shape or [])], dtype=dtype))

    def forward(self, inputs: dict[str, torch.Tensor] | torch.Tensor) -> Any:
        def place(t: torch.Tensor) -> torch.Tensor:
            t = t.to(self.device, non_blocking=True)
            return t.to(self.dtype) if t.is_floating_point() else t

        with torch.inference_mode():
            if isinstance(inputs, torch.Tensor):
                return self.model(place(inputs))
            return self.model(**{name: place(t) for name, t in inputs.items()})

    def describe(self) -> dict[str, Any]:
        """What was loaded, for `GET /models/<name>?customized=true` and the logs."""
        assert self.opts is not None
        modules = list(self.model.modules()) if hasattr(self.model, "modules") else []
        quantized = [m for m in modules if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
        params = [p for p in getattr(self.model, "parameters", list)() if p.is_floating_point()]
        return {
            "format": self.opts.format,
            "device": str(self.device),
            "dtype": str(params[0].dtype).removeprefix("torch.") if params else None,
            "quantizedLinear": len(quantized),
            "compiled": self.opts.compile,
            "loadSeconds": round(self.load_seconds, 3),
            "warmupSeconds": round(self.warmup_seconds, 3),
            "batches": self.batches,
            "requests": self.requests,
            "largestBatch": self.largest_batch,
        }

    def handle(self, data: list[dict[str, Any]], context: Any) -> list[str]:
        responses: list[str] = [""] * len(data)
        self.batches += 1
        self.requests += len(data)
        self.largest_batch = max(self.largest_batch, len(data))
        groups: dict[tuple[Any, ...], list[tuple[int, Any]]] = {}
        assert self.opts is not None
        for idx, row in enumerate(data):
            context.set_response_content_type(idx, JSON_CONTENT_TYPE)
            body = row.get("data") if row.get("data") is not None else row.get("body")
            try:
                inputs = parse_request(body, self.opts)
                _rows(inputs)
            except BadRequestError as err:
                self._fail(context, responses, idx, 400, str(err))
                continue
            groups.setdefault(_signature(inputs), []).append((idx, inputs))
        for members in groups.values():
            self._run_group(members, context, responses)
        return responses

    def _run_group(self, members: list[tuple[int, Any]], context: Any, out: list[str]) -> None:
        sizes = [_rows(inputs) for _, inputs in members]
        first = members[0][1]
        if isinstance(first, torch.Tensor):
            batch: Any = torch.cat([inputs for _, inputs in members])
        else:
            batch = {name: torch.cat([inputs[name] for _, inputs in members]) for name in first}
        try:
            parts = _split(self.forward(batch), sizes)
        except Exception as err:  # the model failed: 500 for this group only
            logger.exception("forward pass failed")
            for idx, _ in members:
                self._fail(context, out, idx, 500, f"model failed: {err}".splitlines()[0])
            return
        for (idx, _), part in zip(members, parts, strict=True):
            out[idx] = json.dumps(_to_json(part), separators=(",", ":"))

    @staticmethod
    def _fail(context: Any, out: list[str], idx: int, code: int, message: str) -> None:
        context.set_response_status(code, message, idx)
        out[idx] = json.dumps({"code": code, "error": message})


_service = FerryService()


def handle(data: list[dict[str, Any]] | None, context: Any) -> list[str] | None:
    """TorchServe entry point; called with `data=None` once to initialize."""
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    if context.get_request_header(0, "describe") == "True":
        return [json.dumps(_service.describe())]
    return _service.handle(data, context)
