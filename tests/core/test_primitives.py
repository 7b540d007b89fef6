"""Shared primitives: money through Babel, basis points, sealing, addresses, keyset pages."""
from __future__ import annotations

import pytest
from flask import Flask

from kameng.core import crypto
from kameng.core.addresses import clean_address, is_address
from kameng.core.errors import InvalidInput
from kameng.core.money import MoneyError, exponent, format_money, parse_input_amount
from kameng.core.pagination import page_from
from kameng.core.percent import (
    format_percent,
    parse_percent,
    percent_of,
    percent_of_floor,
    ratio_bp,
)


@pytest.mark.parametrize("minor, currency, locale, text", [
    (123450, "CNY", "en", "CN¥1,234.50"),
    (1235, "JPY", "en", "¥1,235"),
    (123450, "CNY", "zh_CN", "¥1,234.50"),
    (1235, "JPY", "zh_CN", "JP¥1,235"),
    (100000000, "USD", "en", "$1,000,000.00"),
    (-1200, "CNY", "zh_CN", "-¥12.00"),
])
def test_money_is_grouped_with_the_locales_symbol(minor, currency, locale, text):
    assert format_money(minor, currency, locale) == text


def test_money_uses_the_app_default_locale_outside_a_request():
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_LOCALE"] = "en"
    with app.app_context():
        assert format_money(123450, "CNY") == "CN¥1,234.50"
    assert format_money(123450, "CNY") == "¥1,234.50"  # no app: zh_CN


def test_minor_units_come_from_babel_and_unknown_currencies_are_refused():
    assert (exponent("CNY"), exponent("jpy"), exponent("KRW")) == (2, 0, 0)
    with pytest.raises(MoneyError):
        exponent("XYZ")
    assert parse_input_amount("1,234.50", "CNY") == 123450
    with pytest.raises(InvalidInput, match="decimal places"):
        parse_input_amount("12.5", "JPY")


@pytest.mark.parametrize("text", ["1e30", "1E2", "NaN", "nan", "Infinity", "-inf", "1,0",
                                  "1,00", "12,34.50", ",100", "1,000,0", "9" * 17, "", ".",
                                  "-", "1 000", "١٢"])
def test_amounts_refuse_exponents_nan_stray_commas_and_absurd_sizes(text):
    with pytest.raises(InvalidInput, match="not an amount|too large"):
        parse_input_amount(text, "CNY")


def test_amounts_read_thousands_separators_only_where_they_belong():
    assert parse_input_amount("1,000.50", "CNY") == 100050
    assert parse_input_amount("12,345,678", "CNY") == 1234567800
    assert parse_input_amount(" 0.5 ", "CNY") == 50
    assert parse_input_amount("10", "CNY") == 1000


def test_percent_helpers_are_integer_only():
    assert parse_percent("12.5") == 1250 and parse_percent("7%") == 700
    assert parse_percent("250", maximum_bp=100000) == 25000
    for bad, message in (("abc", "not a percentage"), ("1.234", "two decimal places"),
                         ("101", "between 0 and 100%"), ("-1", "between 0"),
                         ("nan", "not a percentage")):
        with pytest.raises(InvalidInput, match=message):
            parse_percent(bad)
    assert [format_percent(bp) for bp in (1250, 1000, 5, 0, -1234)] == \
        ["12.5", "10", "0.05", "0", "-12.34"]
    assert format_percent(1000, trim=False) == "10.00"
    assert percent_of(1005, 5000) == 503 and percent_of_floor(1005, 5000) == 502
    assert percent_of(999, 0) == 0
    assert ratio_bp(1, 3) == 3333 and ratio_bp(-1, 3) == -3333


def _app_with_ring(spec: str) -> Flask:
    app = Flask(__name__)
    app.config["CODE_KEYS"] = spec
    return app


def test_seal_rotates_with_the_key_ring_and_binds_its_purpose():
    old = f"k1:{crypto.new_key()}"
    app = _app_with_ring(old)
    token = crypto.seal("s3cret", b"purpose-a", app)
    assert token.startswith("k1:") and "s3cret" not in token
    rotated = _app_with_ring(f"k2:{crypto.new_key()},{old}")
    assert crypto.unseal(token, b"purpose-a", rotated) == "s3cret"
    assert crypto.seal("x", b"purpose-a", rotated).startswith("k2:")
    with pytest.raises(crypto.CryptoError):
        crypto.unseal(token, b"purpose-b", app)
    with pytest.raises(crypto.CryptoError):
        crypto.unseal(token, b"purpose-a", _app_with_ring(f"k2:{crypto.new_key()}"))
    with pytest.raises(crypto.CryptoError):
        crypto.unseal("k1:%%%", b"purpose-a", app)


def test_addresses_are_checked_with_email_validator():
    assert clean_address("  Buyer@Star.TEST ") == "buyer@star.test"
    assert clean_address("admin@localhost") == "admin@localhost"
    # the demo's logins live on *.localhost shops
    assert clean_address("Owner@Master.localhost") == "owner@master.localhost"
    for bad in ("nobody", "a@b", "a b@c.com", "a@@b.com", "x@exa_mple.com", ""):
        with pytest.raises(InvalidInput, match="not a valid e-mail address") as err:
            clean_address(bad)
        assert err.value.field == "email"
    assert is_address("me@example.com") and not is_address("me@") and not is_address(None)


def test_keyset_pages_hand_back_the_next_key():
    rows = list(range(10, 0, -1))  # keys 10 … 1, newest first

    def fetch(limit, before):
        return [r for r in rows if before is None or r < before][:limit]

    first = page_from(fetch, 4, lambda r: r)
    assert first.rows == [10, 9, 8, 7] and first.older == 7
    second = page_from(fetch, 4, lambda r: r, first.older)
    assert second.rows == [6, 5, 4, 3] and second.older == 3
    last = page_from(fetch, 4, lambda r: r, second.older)
    assert last.rows == [2, 1] and last.older is None
