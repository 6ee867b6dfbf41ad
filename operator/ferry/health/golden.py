"""Does a golden request's answer match what the ModelDeployment expects? Pure."""

import math
from typing import Any

from ferry.torchserve.settings import ProbeExpectation


def shape_of(value: Any) -> list[int] | None:
    """The shape of a rectangular nested list of numbers; None if it is not one."""
    if not isinstance(value, list):
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else None
    if not value:
        return [0]
    inner = [shape_of(item) for item in value]
    if inner[0] is None or any(shape != inner[0] for shape in inner):
        return None
    return [len(value), *inner[0]]


def mismatch(actual: Any, expect: ProbeExpectation) -> str | None:
    """Why `actual` does not meet `expect`, or None when it does."""
    if expect.shape is not None:
        shape = shape_of(actual)
        if shape != expect.shape:
            return f"output shape {shape} != expected {expect.shape}"
    if expect.values is not None:
        return _value_mismatch(actual, expect.values, expect.tolerance, "output")
    return None


def _value_mismatch(actual: Any, expected: Any, tolerance: float, where: str) -> str | None:
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"{where}: keys differ from the expected {sorted(expected)}"
        pairs = [(actual[key], expected[key], f"{where}.{key}") for key in expected]
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"{where}: expected a list of {len(expected)} items"
        pairs = [
            (got, want, f"{where}[{i}]")
            for i, (got, want) in enumerate(zip(actual, expected, strict=True))
        ]
    else:
        return _scalar_mismatch(actual, expected, tolerance, where)
    problems = (_value_mismatch(got, want, tolerance, at) for got, want, at in pairs)
    return next((problem for problem in problems if problem), None)


def _scalar_mismatch(actual: Any, expected: Any, tolerance: float, where: str) -> str | None:
    numbers = isinstance(expected, int | float) and isinstance(actual, int | float)
    if numbers and math.isclose(actual, expected, rel_tol=tolerance, abs_tol=tolerance):
        return None
    if numbers:
        return f"{where}: {actual} differs from {expected} by more than {tolerance}"
    return None if actual == expected else f"{where}: {actual!r} != {expected!r}"
