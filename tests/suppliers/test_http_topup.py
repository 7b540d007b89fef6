"""The http_topup adapter against a real fake supplier on loopback, in every answer mode.

What a caller relies on: a timeout, a 5xx or an unreachable supplier is UNKNOWN
(never FAILED); asking again by the same idempotency key reconciles; and the
upstream performs exactly one top-up per key whatever happened on the wire.
"""
from __future__ import annotations

import socket

import pytest

from kameng.core.errors import InvalidInput
from kameng.shop.suppliers.adapters import (
    FAILED,
    PENDING,
    SUCCESS,
    UNKNOWN,
    SupplierError,
    get_adapter,
)
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)

PHONE = "13800138000"


@pytest.fixture
def adapter(app, fake_supplier):  # noqa: F811
    return get_adapter(fake_supplier.create_supplier())


def test_success_tops_up_once_and_status_agrees(adapter, fake_supplier):  # noqa: F811
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-1")
    assert result.status == SUCCESS and result.final
    assert result.reference and result.idempotency_key == "line-1"
    assert fake_supplier.topups_for("line-1") == 1
    status = adapter.get_status("line-1")
    assert status.status == SUCCESS and status.reference == result.reference


def test_a_gift_card_order_delivers_its_codes(adapter, fake_supplier):  # noqa: F811
    result = adapter.place_order("STEAM-100", 2, None, "line-cards")
    assert result.status == SUCCESS
    assert len(result.codes) == 2 and len(set(result.codes)) == 2
    assert adapter.get_status("line-cards").codes == result.codes
    assert "CODE" not in repr(result)  # codes are secrets: never in a repr / log line


def test_duplicate_post_returns_the_original_order_and_one_top_up(adapter,
                                                                  fake_supplier):  # noqa: F811
    fake_supplier.mode = "duplicate"
    first = adapter.place_order("CMCC-50", 1, PHONE, "line-dup")
    second = adapter.place_order("CMCC-50", 1, PHONE, "line-dup")
    assert first.status == second.status == SUCCESS
    assert first.reference == second.reference
    assert fake_supplier.posts["line-dup"] == 2
    assert fake_supplier.topups_for("line-dup") == 1


def test_permanent_failure_is_failed_and_tops_up_nothing(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "failure"
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-fail")
    assert result.status == FAILED and result.final
    assert result.message
    assert adapter.get_status("line-fail").status == FAILED
    assert fake_supplier.total_topups == 0


def test_a_plain_refusal_is_failed(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "reject"
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-422")
    assert result.status == FAILED and "422" in result.message
    assert fake_supplier.total_topups == 0


def test_timeout_is_unknown_then_reconciles_to_one_top_up(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "slow"
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-slow")
    assert result.status == UNKNOWN and not result.final
    # the upstream did it even though we never heard back
    status = adapter.get_status("line-slow")
    assert status.status == SUCCESS
    # a retry with the SAME key is safe: the original order, no second top-up
    fake_supplier.mode = "success"
    again = adapter.place_order("CMCC-50", 1, PHONE, "line-slow")
    assert again.status == SUCCESS and again.reference == status.reference
    assert fake_supplier.topups_for("line-slow") == 1


def test_5xx_is_unknown_then_status_says_success(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "error_then_success"
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-500")
    assert result.status == UNKNOWN and "500" in result.message
    assert adapter.get_status("line-500").status == SUCCESS
    retried = adapter.place_order("CMCC-50", 1, PHONE, "line-500")
    assert retried.status == SUCCESS
    assert fake_supplier.topups_for("line-500") == 1


def test_garbled_answer_is_unknown_then_reconciles(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "garbled"
    assert adapter.place_order("CMCC-50", 1, PHONE, "line-html").status == UNKNOWN
    assert adapter.get_status("line-html").status == SUCCESS
    assert fake_supplier.topups_for("line-html") == 1


def test_keys_must_be_plain(adapter, fake_supplier):  # noqa: F811
    for key in ("", "a/b", "a b", "x" * 129, "line?x=1"):
        with pytest.raises(ValueError):
            adapter.place_order("CMCC-50", 1, PHONE, key)
        with pytest.raises(ValueError):
            adapter.get_status(key)
    assert fake_supplier.log == []


def test_pending_then_success_by_status_query(adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "pending_then_success"
    fake_supplier.pending_polls = 2
    result = adapter.place_order("GAME-UID", 1, "12345678", "line-async")
    assert result.status == PENDING and not result.final
    assert fake_supplier.topups_for("line-async") == 0
    assert adapter.get_status("line-async").status == PENDING
    assert adapter.get_status("line-async").status == SUCCESS
    assert fake_supplier.topups_for("line-async") == 1


def test_supplier_down_is_unknown_and_a_later_retry_with_the_same_key_works(
        adapter, fake_supplier):  # noqa: F811
    fake_supplier.mode = "down"
    assert adapter.place_order("CMCC-50", 1, PHONE, "line-down").status == UNKNOWN
    assert adapter.get_status("line-down").status == UNKNOWN
    assert fake_supplier.total_topups == 0
    fake_supplier.mode = "success"
    # never heard of it: still UNKNOWN, not FAILED (it may be in flight)
    assert adapter.get_status("line-down").status == UNKNOWN
    assert adapter.place_order("CMCC-50", 1, PHONE, "line-down").status == SUCCESS
    assert fake_supplier.topups_for("line-down") == 1


def test_unreachable_supplier_is_unknown(app, fake_supplier):  # noqa: F811
    with socket.socket() as sock:   # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    supplier = fake_supplier.create_supplier(base_url=f"http://127.0.0.1:{port}/api")
    result = get_adapter(supplier).place_order("CMCC-50", 1, PHONE, "line-x")
    assert result.status == UNKNOWN
    with pytest.raises(SupplierError, match="could not reach"):
        get_adapter(supplier).balance()


def test_wrong_secret_is_refused_by_the_supplier_and_is_not_failed(app,
                                                                    fake_supplier):  # noqa: F811
    supplier = fake_supplier.create_supplier(secret="not-the-secret")
    adapter = get_adapter(supplier)
    result = adapter.place_order("CMCC-50", 1, PHONE, "line-auth")
    # nothing happened upstream, but a credential problem is ours to fix, not a refund
    assert result.status == UNKNOWN and "credentials" in result.message
    assert fake_supplier.rejected_signatures >= 1 and fake_supplier.total_topups == 0
    with pytest.raises(SupplierError, match="401"):
        adapter.balance()


def test_balance_and_catalog(adapter, fake_supplier):  # noqa: F811
    fake_supplier.balance = 123456
    assert adapter.balance() == 123456
    products = {p.sku: p for p in adapter.sync_catalog()}
    assert set(products) == {"CMCC-50", "CMCC-ANY", "GAME-UID", "STEAM-100"}
    assert products["CMCC-50"].face_value == 5000 and products["CMCC-50"].price == 4900
    assert products["CMCC-ANY"].face_value is None
    assert (products["CMCC-ANY"].min_amount, products["CMCC-ANY"].max_amount) == (1000, 50000)


def test_validate_order_checks_amount_and_account(adapter):
    adapter.validate_order("CMCC-50", 5000, PHONE)
    adapter.validate_order("CMCC-50", None, PHONE)
    adapter.validate_order("CMCC-ANY", 1000, PHONE)
    adapter.validate_order("STEAM-100", None, None)
    cases = [
        ("CMCC-50", 3000, PHONE, "amount"),         # fixed face value
        ("CMCC-ANY", 999, PHONE, "amount"),         # below the range
        ("CMCC-ANY", 50001, PHONE, "amount"),       # above the range
        ("CMCC-ANY", None, PHONE, "amount"),        # open amount needs one
        ("CMCC-50", 5000, "1380013800", "account"),  # too short
        ("CMCC-50", 5000, "", "account"),
        ("CMCC-50", 5000, "1380013800\n0", "account"),
        ("NOPE", 5000, PHONE, "sku"),
    ]
    for sku, amount, account, field in cases:
        with pytest.raises(InvalidInput) as err:
            adapter.validate_order(sku, amount, account)
        assert err.value.field == field, (sku, amount, account)
