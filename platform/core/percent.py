"""Percentages as integer basis points (1250 = 12.50 %): parse, format, apply. No floats."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l

BASIS = 10000  # basis points in 100 %


def parse_percent(text, field: str = "percent", maximum_bp: int = BASIS) -> int:
    """'12.5' → 1250; at most two decimals, 0 ≤ value ≤ maximum."""
    try:
        value = Decimal(str(text).strip().rstrip("%"))
    except InvalidOperation:
        raise InvalidInput(_l("not a percentage: %(text)r", text=text), field=field) from None
    if not value.is_finite():
        raise InvalidInput(_l("not a percentage: %(text)r", text=text), field=field)
    bp = value.scaleb(2)
    if bp != bp.to_integral_value():
        raise InvalidInput(_l("%(text)s%% has more than two decimal places", text=text),
                           field=field)
    bp = int(bp)
    if bp < 0 or bp > maximum_bp:
        raise InvalidInput(_l("%(field)s must be between 0 and %(maximum)s%%",
                              field=field, maximum=format_percent(maximum_bp)), field=field)
    return bp


def check_bp(value, field: str) -> int:
    """A stored basis-point value given as an int: 0–10000."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= BASIS:
        raise InvalidInput(_l("%(field)s must be 0–10000 basis points (0–100 %%)", field=field),
                           field=field)
    return value


def format_percent(bp: int, *, trim: bool = True) -> str:
    """1250 → '12.5', 1000 → '10', 5 → '0.05'; with ``trim=False`` always two decimals."""
    whole, rest = divmod(abs(bp), 100)
    text = f"{whole}.{rest:02d}"
    if trim:
        text = text.rstrip("0").rstrip(".")
    return f"-{text}" if bp < 0 else text


def percent_of(amount: int, bp: int) -> int:
    """bp of an amount, rounded half up to the minor unit."""
    return (amount * bp + BASIS // 2) // BASIS


def percent_of_floor(amount: int, bp: int) -> int:
    """bp of an amount, rounded down to the minor unit."""
    return amount * bp // BASIS


def ratio_bp(part: int, whole: int) -> int:
    """``part`` as basis points of ``whole`` (> 0), truncated toward zero."""
    bp = abs(part) * BASIS // whole
    return -bp if part < 0 else bp
