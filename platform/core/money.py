"""Money is an integer count of the currency's minor unit (fen, cents). No floats."""
from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision

from kameng.core.i18n import lazy_gettext as _l

# the currencies a shop may price in; their minor units come from Babel (CLDR)
CURRENCIES = frozenset({"CNY", "USD", "EUR", "HKD", "TWD", "GBP", "JPY", "KRW"})


class MoneyError(ValueError):
    pass


def exponent(currency: str) -> int:
    code = currency.upper()
    if code not in CURRENCIES:
        raise MoneyError(f"unknown currency {currency!r}")
    return get_currency_precision(code)


# a plain decimal: digits, optionally grouped by thousands with commas (1,000.50), and
# a decimal point; no exponent, no NaN or infinity, no stray commas ('1,0' is refused)
_AMOUNT_RE = re.compile(r"^[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.[0-9]+)?$")
MAX_AMOUNT = 10**15        # minor units: ten trillion yuan, far above any real amount
_MAX_TEXT = 40


def parse_amount(text: str | int | Decimal, currency: str) -> int:
    """'12.50' CNY -> 1250; '1,000.50' -> 100050.

    Refuses more decimals than the currency has, exponents ('1e30'), NaN and
    infinities, commas that are not thousands separators ('1,0'), and amounts
    above ``MAX_AMOUNT`` minor units either way.
    """
    exp = exponent(currency)
    plain = str(text).strip()
    if (len(plain) > _MAX_TEXT or not _AMOUNT_RE.match(plain)
            or not any(ch.isdigit() for ch in plain)):
        raise MoneyError(f"not an amount: {str(text)[:_MAX_TEXT]!r} (write it like 1234.50"
                         f" or 1,234.50)")
    value = Decimal(plain.replace(",", ""))
    scaled = value.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise MoneyError(f"{plain} has more than {exp} decimal places for {currency}")
    if abs(scaled) > MAX_AMOUNT:
        raise MoneyError(f"{plain} is too large an amount")
    return int(scaled)


def to_decimal(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-exponent(currency))


def format_plain(minor: int, currency: str) -> str:
    """1250 CNY -> '12.50' (what an epay gateway or a CSV wants)."""
    exp = exponent(currency)
    return f"{to_decimal(minor, currency):.{exp}f}"


def format_money(minor: int, currency: str, locale: str | None = None) -> str:
    """1234.50 CNY -> '¥1,234.50' in zh_CN, 'CN¥1,234.50' in en: the locale's grouping
    and the symbol it gives that currency."""
    code, locale = currency.upper(), locale or current_locale()
    if type(minor) is not int:   # a bool or a Decimal is not cached as an int
        return format_currency(to_decimal(minor, code), code, locale=locale)
    return _formatted(minor, code, locale)


@lru_cache(maxsize=8192)
def _formatted(minor: int, code: str, locale: str) -> str:
    # a pure function of its arguments; Babel parses the locale's pattern on every call
    # (~20 µs), and report pages repeat a few amounts (¥0.00) hundreds of times
    return format_currency(to_decimal(minor, code), code, locale=locale)


def current_locale() -> str:
    """The request's locale; outside a request the app's default (zh_CN without an app)."""
    from flask import current_app, has_app_context, has_request_context

    if has_request_context():
        from flask_babel import get_locale

        found = get_locale()
        if found is not None:
            return str(found)
    if has_app_context():
        return current_app.config.get("BABEL_DEFAULT_LOCALE") or "zh_CN"
    return "zh_CN"


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
