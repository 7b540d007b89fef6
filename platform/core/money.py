"""Money is an integer count of the currency's minor unit (fen, cents). No floats."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

EXPONENTS = {"CNY": 2, "USD": 2, "EUR": 2, "HKD": 2, "TWD": 2, "GBP": 2, "JPY": 0, "KRW": 0}
SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "HKD": "HK$", "GBP": "£", "JPY": "¥", "KRW": "₩"}


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency.upper()]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' CNY -> 1250. Refuses more decimals than the currency has."""
    exp = exponent(currency)
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise MoneyError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise MoneyError(f"not an amount: {text!r}")
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{text} has more than {exp} decimal places for {currency}")
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def format_plain(minor: int, currency: str) -> str:
    """1250 CNY -> '12.50' (what an epay gateway or a CSV wants)."""
    exp = exponent(currency)
    return f"{to_decimal(minor, currency):.{exp}f}"


def format_money(minor: int, currency: str) -> str:
    return f"{SYMBOLS.get(currency.upper(), currency.upper() + ' ')}{format_plain(minor, currency)}"


def percent_of(minor: int, percent: Decimal | str | int) -> int:
    """Percent of an amount, rounded half up to the minor unit."""
    return int((Decimal(minor) * Decimal(str(percent)) / 100).quantize(Decimal(1), ROUND_HALF_UP))


def parse_input_amount(text, currency: str, field: str = "amount", minimum: int = 0) -> int:
    """An operator's or buyer's amount in major units ('12.50'), as minor units.

    Bad input raises ``InvalidInput`` naming the field (a form message, a JSON
    problem detail or a CLI error line).
    """
    from kameng.core.errors import InvalidInput

    try:
        value = parse_amount(text, currency)
    except MoneyError as err:
        raise InvalidInput(str(err), field=field) from None
    if value < minimum:
        raise InvalidInput(_l("%(field)s must be at least %(minimum)s",
                              field=field, minimum=format_plain(minimum, currency)),
                           field=field)
    return value
