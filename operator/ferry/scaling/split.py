"""A replica total split between the stable and the canary revision by the step's weight."""


def split(total: int, canary_weight_percent: int) -> tuple[int, int]:
    """(stable, canary) with canary = ceil(weight x total / 100).

    Rounding up gives the canary at least one replica whenever it has a weight and there is
    a replica to give, so analysis always sees canary traffic; it never exceeds the total.
    """
    if total < 0:
        raise ValueError(f"replica total {total} is negative")
    if not 0 <= canary_weight_percent <= 100:
        raise ValueError(f"canary weight {canary_weight_percent} is outside 0-100")
    canary = -(-canary_weight_percent * total // 100)  # integer ceil: no float rounding
    return total - canary, canary
