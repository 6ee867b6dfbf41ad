"""The canary split of a replica total: ceil(weight x total / 100) canary replicas."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferry.scaling.split import split

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("total", "weight", "expected"),
    [
        (10, 0, (10, 0)),
        (10, 100, (0, 10)),
        (10, 25, (7, 3)),  # 2.5 rounds up
        (4, 50, (2, 2)),
        (3, 1, (2, 1)),  # any weight gets a replica: analysis needs canary traffic
        (1, 10, (0, 1)),
        (0, 50, (0, 0)),
        (7, 57, (3, 4)),  # 3.99: whole-number arithmetic, no float rounding
    ],
)
def test_split_examples(total: int, weight: int, expected: tuple[int, int]) -> None:
    assert split(total, weight) == expected


@given(st.integers(0, 10_000), st.integers(0, 100))
def test_split_sums_to_the_total_and_rounds_the_canary_up(total: int, weight: int) -> None:
    stable, canary = split(total, weight)
    assert stable + canary == total
    assert 0 <= canary <= math.ceil(weight * total / 100)
    assert canary >= (1 if weight and total else 0)


@given(st.integers(0, 1000), st.integers(0, 99))
def test_a_larger_weight_never_gives_the_canary_fewer_replicas(total: int, weight: int) -> None:
    assert split(total, weight)[1] <= split(total, weight + 1)[1]


@pytest.mark.parametrize(("total", "weight"), [(-1, 10), (5, 101), (5, -1)])
def test_split_rejects_nonsense(total: int, weight: int) -> None:
    with pytest.raises(ValueError, match=r"negative|outside 0-100"):
        split(total, weight)
