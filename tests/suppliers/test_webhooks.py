"""Signatures both ways: the supplier refuses our unsigned or mis-signed requests
(see test_http_topup), and we refuse forged, stale or future-dated webhooks."""
from __future__ import annotations

import json
import time

import pytest

from kameng.shop.suppliers import services
from kameng.shop.suppliers.adapters import PENDING, SUCCESS, InvalidSignature, get_adapter
from tests.fakes.supplier import fake_supplier  # noqa: F401  (fixture)

PHONE = "13800138000"


@pytest.fixture
def pending_order(app, fake_supplier):  # noqa: F811
    """A supplier, its adapter and an async order that the upstream has just completed."""
    supplier = fake_supplier.create_supplier()
    adapter = get_adapter(supplier)
    fake_supplier.mode = "pending_then_success"
    assert adapter.place_order("CMCC-50", 1, PHONE, "line-hook").status == PENDING
    fake_supplier.complete("line-hook")
    return supplier, adapter


def test_a_signed_webhook_is_read(pending_order, fake_supplier):  # noqa: F811
    supplier, adapter = pending_order
    headers, body = fake_supplier.webhook("line-hook")
    result = adapter.parse_webhook(headers, body)
    assert result.status == SUCCESS and result.idempotency_key == "line-hook"
    assert result.reference == fake_supplier.order("line-hook")["id"]
    # header names are case-insensitive; the service entry point verifies the same way
    lowered = {k.lower(): v for k, v in headers.items()}
    assert services.receive_webhook(supplier.id, lowered, body).status == SUCCESS
    assert fake_supplier.topups_for("line-hook") == 1


def test_a_webhook_sent_over_http_verifies(pending_order, fake_supplier, httpserver):  # noqa: F811
    _, adapter = pending_order
    httpserver.expect_request("/hooks/supplier", method="POST").respond_with_data("ok")
    response = fake_supplier.send_webhook(httpserver.url_for("/hooks/supplier"), "line-hook")
    assert response.status_code == 200
    request, _ = httpserver.log[-1]
    result = adapter.parse_webhook(request.headers, request.get_data())
    assert result.status == SUCCESS and result.idempotency_key == "line-hook"


def test_bad_signature_is_refused(pending_order, fake_supplier):  # noqa: F811
    _, adapter = pending_order
    headers, body = fake_supplier.webhook("line-hook", secret="an-attackers-guess")
    with pytest.raises(InvalidSignature, match="signature"):
        adapter.parse_webhook(headers, body)


def test_tampered_body_is_refused(pending_order, fake_supplier):  # noqa: F811
    _, adapter = pending_order
    headers, body = fake_supplier.webhook("line-hook")
    forged = json.loads(body)
    forged["codes"] = ["ATTACKER-CODE"]
    with pytest.raises(InvalidSignature):
        adapter.parse_webhook(headers, json.dumps(forged).encode())


@pytest.mark.parametrize("offset", [-301, 301, -3600, 3600])
def test_stale_or_future_timestamps_are_refused(pending_order, fake_supplier,  # noqa: F811
                                                offset):
    _, adapter = pending_order
    # correctly signed, but outside the five-minute window either way
    headers, body = fake_supplier.webhook("line-hook", timestamp=int(time.time()) + offset)
    with pytest.raises(InvalidSignature, match="timestamp"):
        adapter.parse_webhook(headers, body)


def test_other_key_id_or_missing_headers_are_refused(pending_order, fake_supplier):  # noqa: F811
    _, adapter = pending_order
    headers, body = fake_supplier.webhook("line-hook", key_id="someone-else")
    with pytest.raises(InvalidSignature, match="key id"):
        adapter.parse_webhook(headers, body)
    headers, body = fake_supplier.webhook("line-hook")
    for name in ("X-Signature", "X-Timestamp", "X-Key-Id"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(InvalidSignature, match="not signed"):
            adapter.parse_webhook(partial, body)


def test_the_local_adapter_takes_no_webhooks(app):
    from kameng.shop.suppliers.adapters import SupplierError

    with pytest.raises(SupplierError):
        get_adapter(None).parse_webhook({}, b"{}")
