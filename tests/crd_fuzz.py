"""Hypothesis strategies read from the ModelDeployment CRD (crds/): specs the API server must
accept, and specs with exactly one mistake whose field path it must name when it refuses.

Every scalar field of the schema is a leaf; what it accepts comes from its type, enum,
bounds and lengths and from its own CEL rules (`self >= 1 && self <= 64`,
`self.matches('...')`), so a field added to the CRD is fuzzed without touching this file.
The few rules that relate two fields (batching, autoscaling bounds, step weights, analysis
thresholds) are kept by construction for valid specs and broken on purpose for invalid ones.
"""

import copy
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

CRD_FILE = (
    Path(__file__).resolve().parent.parent / "crds" / "modeldeployments.serving.ferry.dev.yaml"
)
Path_ = tuple[str, ...]  # ("rollout", "steps", "[]", "weight"): "[]" is a list's first item
# Printable ASCII: RE2 (CEL) and Python agree on every class over it.
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
_BOUND = re.compile(r"self (>=|>|<=|<) (-?\d+(?:\.\d+)?)")
_MATCHES = re.compile(r"(!?)(?:string\()?self\)?\.matches\('((?:[^'\\]|\\.)*)'\)")


def spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_FILE.read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]


@dataclass(frozen=True)
class Leaf:
    """A scalar field and what it accepts, read from its schema and its own CEL rules."""

    path: Path_
    kind: str  # string, integer, number, boolean, quantity (int-or-string)
    enum: tuple[str, ...] = ()
    low: float | None = None
    low_open: bool = False
    high: float | None = None
    high_open: bool = False
    max_length: int | None = None
    min_length: int = 0
    patterns: tuple[str, ...] = ()  # must all match (anywhere: they carry their anchors)
    forbidden: tuple[str, ...] = ()  # must not match
    required: bool = False  # by its parent object

    @property
    def field_path(self) -> str:
        """As the API server names it: spec.rollout.steps[0].weight."""
        return "spec." + ".".join(self.path).replace(".[]", "[0]")

    def accepts(self, value: str) -> bool:
        return (
            self.min_length <= len(value) <= (self.max_length or len(value))
            and all(re.search(p, value) for p in self.patterns)
            and not any(re.search(p, value) for p in self.forbidden)
        )


def _leaf(path: Path_, node: dict[str, Any], required: bool) -> Leaf | None:
    kind = "quantity" if node.get("x-kubernetes-int-or-string") else node.get("type")
    if kind not in ("string", "integer", "number", "boolean", "quantity"):
        return None
    bounds: dict[str, Any] = {}
    if "minimum" in node:
        bounds.update(low=node["minimum"])
    patterns, forbidden = [], []
    for rule in (r["rule"] for r in node.get("x-kubernetes-validations") or []):
        if "||" in rule:
            continue  # conditional (pvc:// URIs): the overrides below cover it
        for op, number in _BOUND.findall(rule):
            side = "low" if op.startswith(">") else "high"
            bounds.update({side: float(number), f"{side}_open": len(op) == 1})
        for negated, pattern in _MATCHES.findall(rule):
            (forbidden if negated else patterns).append(pattern.replace("\\\\", "\\"))
    return Leaf(
        path, kind, tuple(node.get("enum") or ()), **bounds,
        max_length=node.get("maxLength"), min_length=node.get("minLength", 0),
        patterns=tuple(patterns), forbidden=tuple(forbidden), required=required,
    )  # fmt: skip


def leaves(node: dict[str, Any] | None = None, path: Path_ = ()) -> Iterator[Leaf]:
    node = spec_schema() if node is None else node
    required = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        if child.get("type") == "object" and "properties" in child:
            yield from leaves(child, (*path, name))
        elif child.get("type") == "array" and "items" in child:
            items = child["items"]
            if "properties" in items:
                yield from leaves(items, (*path, name, "[]"))
            elif (leaf := _leaf((*path, name, "[]"), items, False)) is not None:
                yield leaf
        elif (leaf := _leaf((*path, name), child, name in required)) is not None:
            yield leaf


LEAVES = tuple(leaves())
# Valid values where the schema alone says too little, or too much for a test cluster
# (1,000 replicas of kwok pods are the scale benchmark's business, not the fuzzer's).
VALID_OVERRIDES: dict[Path_, st.SearchStrategy[Any]] = {
    ("model", "uri"): st.sampled_from(
        [
            "s3://b/k.mar",
            "gs://b/m/k.mar",
            "https://h.example/x.mar?sig=a%20b",
            "http://10.0.0.1:8000/m.mar",
            "pvc://claim-1/dir/m.mar",
            "file:///models/m.mar",
        ]
    ),
    ("resources", "cpu"): st.sampled_from(["1", "500m", "0.25", "2", 1, "1.5"]),
    ("resources", "memory"): st.sampled_from(["256Mi", "1Gi", "1.5Gi", "100M", 2**30]),
    ("resources", "gpu"): st.integers(0, 1),
    ("replicas",): st.integers(0, 2),
    ("autoscaling", "minReplicas"): st.integers(1, 2),
    ("autoscaling", "maxReplicas"): st.integers(2, 3),
    ("runtime", "image"): st.sampled_from(["ghcr.io/ferry/torchserve:0.12.0-cpu", "reg:5000/i@x"]),
}
# What a present object needs besides the leaf being set in it (its required fields).
TEMPLATES: dict[Path_, dict[str, Any]] = {
    ("model", "probe"): {"request": {"data": [[0.1, 0.2]]}},
    ("model", "credentialsSecretRef"): {"name": "model-store"},
    ("autoscaling",): {"maxReplicas": 3, "target": 4},
    ("inference", "clientTokenSecretRef"): {"name": "client-token"},
    ("traffic", "httpRoute"): {"parentRefs": [{"name": "gateway"}]},
    ("runtime", "imagePullSecrets", "[]"): {"name": "registry"},
    ("placement", "tolerations", "[]"): {"key": "nvidia.com/gpu", "operator": "Exists"},
    ("placement", "topologySpreadConstraints", "[]"): {
        "maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
    },
    ("rollout", "steps", "[]"): {"weight": 50},
    ("rollout", "analysis"): {"maxErrorRate": 0.01},
}
BASE: dict[str, Any] = {
    "model": {"name": "fuzz", "version": "1.0.0", "uri": "s3://m/fuzz.mar", "sha256": "a" * 64},
    "resources": {"cpu": "100m", "memory": "256Mi"},
    "replicas": 1,
}


def valid_value(leaf: Leaf) -> st.SearchStrategy[Any]:
    if leaf.path in VALID_OVERRIDES:
        return VALID_OVERRIDES[leaf.path]
    if leaf.enum:
        return st.sampled_from(leaf.enum)
    if leaf.kind == "boolean":
        return st.booleans()
    if leaf.kind == "integer":
        low = None if leaf.low is None else int(leaf.low) + leaf.low_open
        high = None if leaf.high is None else int(leaf.high) - leaf.high_open
        return st.integers(
            low if low is not None else -(2**31), high if high is not None else 2**31
        )
    if leaf.kind == "number":
        return st.floats(
            leaf.low, leaf.high, exclude_min=leaf.low_open, exclude_max=leaf.high_open,
            allow_nan=False, allow_infinity=False, width=32,
        ).map(lambda x: round(x, 4)).filter(lambda x: _within(leaf, x))  # fmt: skip
    size = min(leaf.max_length or 40, 40)
    if leaf.patterns:
        anchored = leaf.patterns[0]
        text = st.from_regex(anchored, fullmatch=anchored.endswith("$"), alphabet=ASCII)
    else:
        text = st.text(ASCII, min_size=max(leaf.min_length, 1), max_size=size)
    return text.filter(leaf.accepts)


def _within(leaf: Leaf, x: float) -> bool:
    above = leaf.low is None or (x > leaf.low if leaf.low_open else x >= leaf.low)
    below = leaf.high is None or (x < leaf.high if leaf.high_open else x <= leaf.high)
    return above and below


def invalid_value(leaf: Leaf) -> st.SearchStrategy[Any]:
    """A value this field refuses on its own (its type, enum, bounds, length or pattern)."""
    wrong_type = st.just("1") if leaf.kind in ("integer", "number", "boolean") else st.just([1])
    if leaf.kind == "quantity":
        return st.sampled_from(["0", "-1", "abc", "1.5.5", "12 Gi", 0.5, [1]])
    if leaf.enum:
        return (
            st.text(string.ascii_letters, min_size=1, max_size=12).filter(
                lambda v: v not in leaf.enum
            )
            | wrong_type
        )
    if leaf.kind in ("integer", "number"):
        out: list[st.SearchStrategy[Any]] = [wrong_type]
        if leaf.low is not None:
            edge = leaf.low if leaf.low_open else leaf.low - (1 if leaf.kind == "integer" else 0.5)
            out.append(st.just(int(edge) if leaf.kind == "integer" else edge))
        if leaf.high is not None:
            edge = (
                leaf.high if leaf.high_open else leaf.high + (1 if leaf.kind == "integer" else 0.5)
            )
            out.append(st.just(int(edge) if leaf.kind == "integer" else edge))
        return st.one_of(out)
    if leaf.kind == "boolean":
        return wrong_type
    out = [wrong_type]
    if leaf.max_length is not None:
        out.append(st.just("a" * (leaf.max_length + 1)))
    if leaf.patterns or leaf.forbidden or leaf.min_length:
        out.append(st.text(ASCII, max_size=20).filter(lambda v: not leaf.accepts(v)))
    return st.one_of(out)


def _set(spec: dict[str, Any], path: Path_, value: Any) -> None:
    """Set `path` in `spec`, creating what leads there from TEMPLATES (or empty)."""
    if path[-1] == "[]":  # a list of scalars: its first item
        path, value = path[:-1], [value]
    node: Any = spec
    for depth, part in enumerate(path[:-1]):
        here = path[: depth + 1]
        if part == "[]":
            continue
        if path[depth + 1] == "[]":
            items = node.setdefault(part, [])
            if not items:
                items.append(copy.deepcopy(TEMPLATES.get((*here, "[]"), {})))
            node = items[0]
        else:
            node = node.setdefault(part, copy.deepcopy(TEMPLATES.get(here, {})))
    node[path[-1]] = value


def _keep_cross_field_rules(spec: dict[str, Any]) -> dict[str, Any]:
    batching = spec.get("runtime", {}).get("batching", {})
    if batching.get("maxBatchDelayMs", 0) and batching.get("maxBatchSize", 1) <= 1:
        batching["maxBatchSize"] = 8
    scaling = spec.get("autoscaling")
    if scaling is not None:
        scaling["maxReplicas"] = max(scaling["maxReplicas"], scaling.get("minReplicas", 1))
    return spec


@dataclass(frozen=True)
class Mistake:
    spec: dict[str, Any] = field(repr=False)
    field_path: str  # what the refusal must name
    what: str


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    chosen = draw(st.lists(st.sampled_from(LEAVES), max_size=8, unique_by=lambda leaf: leaf.path))
    for leaf in chosen:
        if leaf.path[:2] != ("rollout", "steps"):  # drawn whole, below
            _set(spec, leaf.path, draw(valid_value(leaf)))
    if draw(st.booleans()):
        weights = sorted(draw(st.sets(st.integers(1, 100), min_size=1, max_size=4)))
        pauses = (
            st.none()
            | st.just({})
            | st.sampled_from(["30s", "5m", "1h2m3s"]).map(lambda d: {"duration": d})
        )
        steps = [{"weight": w} | ({"pause": p} if (p := draw(pauses)) is not None else {})
                 for w in weights]  # fmt: skip
        spec.setdefault("rollout", {})["steps"] = steps
    return _keep_cross_field_rules(spec)


CROSS_FIELD_MISTAKES: tuple[tuple[Path_, Any, str], ...] = (
    (("runtime", "batching"), {"maxBatchSize": 1, "maxBatchDelayMs": 5},
     "spec.runtime.batching.maxBatchDelayMs"),
    (("autoscaling",), {"minReplicas": 3, "maxReplicas": 2, "target": 1}, "spec.autoscaling"),
    (("rollout", "steps"), [{"weight": 50}, {"weight": 10}], "spec.rollout.steps"),
    (("rollout", "analysis"), {"intervalSeconds": 30}, "spec.rollout.analysis"),
)  # fmt: skip


@st.composite
def mistakes(draw: st.DrawFn) -> Mistake:
    """A valid spec with exactly one mistake: a field's own rule broken, a rule relating two
    fields broken, a required field missing, or a field the schema does not declare."""
    spec = draw(valid_specs())
    kind = draw(st.sampled_from(["leaf", "leaf", "leaf", "cross", "missing", "unknown"]))
    if kind == "cross":
        path, value, named = draw(st.sampled_from(CROSS_FIELD_MISTAKES))
        spec.pop("autoscaling", None) if path == ("autoscaling",) else None
        _set(spec, path, copy.deepcopy(value))
        return Mistake(spec, named, f"{named} against a rule relating two fields")
    if kind == "missing":
        name = draw(st.sampled_from(sorted(BASE["model"])))
        del spec["model"][name]
        return Mistake(spec, f"spec.model.{name}", "a required field left out")
    if kind == "unknown":
        parent = draw(st.sampled_from([(), ("model",), ("runtime",), ("resources",)]))
        _set(spec, (*parent, "replicaz"), 1)
        return Mistake(spec, ".".join(("spec", *parent, "replicaz")), "an undeclared field")
    leaf = draw(st.sampled_from(LEAVES))
    value = draw(invalid_value(leaf))
    _set(spec, leaf.path, value)
    return Mistake(spec, leaf.field_path, f"{leaf.field_path} = {value!r}")
