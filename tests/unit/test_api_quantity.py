"""Quantities are rendered as the API server stores them (unit world: pure)."""

import pytest

from ferry.api.quantity import canonical_quantity

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("500m", "500m"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("1.5", "1500m"),
        (4, "4"),
        ("16Gi", "16Gi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1500M", "1500M"),
        ("100k", "100k"),
        ("1.5k", "1500"),
        ("0", "0"),
    ],
)
def test_canonical_form_matches_the_api_server(given: str | int, stored: str) -> None:
    assert canonical_quantity(given) == stored


@pytest.mark.parametrize("bad", ["", "1e3", "-1", "1.5.0", "16GB", "lots", "1 Gi"])
def test_non_quantities_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        canonical_quantity(bad)
