"""Channel rounding shared by the width-scaled families (MobileNet, EfficientNet, ...)."""

from __future__ import annotations


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round `value` to the nearest multiple of `divisor`, never dropping below `round_limit` of it.

    This is the rounding MobileNetV2/V3 and EfficientNet apply to every width-scaled channel count
    (hardware prefers multiples of 8); without it the published parameter counts are not reached.
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return int(new_value)
