"""Kubernetes resource quantities in the canonical form the API server stores.

Builders render quantities exactly as the API server would return them, so comparing a
desired child with the observed one never reports a difference that is only notation
("0.5" vs "500m", "1024Mi" vs "1Gi"): no needless writes, no GitOps diffs.
"""

import re
from decimal import ROUND_CEILING, Decimal

# A deliberately small grammar: plain or decimal numbers with an SI or binary suffix.
# Exponent notation ("1e3") and sub-milli suffixes are rejected, with the CRD's patterns.
QUANTITY_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,9})?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$"
_QUANTITY = re.compile(QUANTITY_PATTERN)

_DECIMAL_EXPONENTS = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIXES = {-9: "n", -6: "u", **{e: s for s, e in _DECIMAL_EXPONENTS.items()}}
_BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_NANO = Decimal("1e-9")


def canonical_quantity(value: str | int) -> str:
    """The API server's canonical spelling of `value`; ValueError when it is not a quantity."""
    text = str(value)
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a quantity such as 500m, 2, 1.5, 512Mi or 16Gi")
    suffix = match.group(2) or ""
    number = Decimal(text[: len(text) - len(suffix)])
    if suffix in _BINARY_SUFFIXES:
        amount = number * 1024 ** _BINARY_SUFFIXES.index(suffix)
        binary = True
    else:
        amount = number * Decimal(10) ** _DECIMAL_EXPONENTS[suffix]
        binary = False
    # The API server keeps at most nano precision and rounds up.
    amount = amount.quantize(_NANO, rounding=ROUND_CEILING)
    if amount == 0:
        return "0"
    # Binary notation survives only for whole numbers of at least 1Ki.
    if binary and amount >= 1024 and amount == amount.to_integral_value():
        return _binary(int(amount))
    return _decimal(amount)


def _binary(amount: int) -> str:
    power = 0
    while amount % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
        amount //= 1024
        power += 1
    return f"{amount}{_BINARY_SUFFIXES[power]}"


def _decimal(amount: Decimal) -> str:
    mantissa, exponent = int(amount / _NANO), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    # The exponent moves down to a multiple of three, the mantissa absorbs the rest.
    shift = exponent % 3
    mantissa *= 10**shift
    exponent -= shift
    while exponent > 18:
        mantissa *= 1000
        exponent -= 3
    return f"{mantissa}{_DECIMAL_SUFFIXES[exponent]}"
