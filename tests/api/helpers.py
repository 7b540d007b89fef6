"""API accounts and calls for the docking API tests."""
from __future__ import annotations

from kameng.tenants import services as tenants
from kameng.tenants.api_keys import create_key
from tests.orders.helpers import fund


def api_account(tenant, email: str, funds: int = 0):
    """A customer of ``tenant`` with an API key (and ``funds`` in the wallet)."""
    user = tenants.create_user(tenant, email, "customer")
    key = create_key(user, "test").plaintext
    if funds:
        fund(user, funds)
    return user, key


def auth(key: str, **headers) -> dict:
    return {"Authorization": f"Bearer {key}", **headers}


def order(client, key: str, sku: str, idem: str, quantity: int = 1, fields=None):
    body = {"sku": sku, "quantity": quantity}
    if fields is not None:
        body["fields"] = fields
    return client.post("/api/v1/orders", json=body, headers=auth(key, **{"Idempotency-Key": idem}))


def assert_problem(resp, status: int, code: str, field: str | None = None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    assert resp.json["code"] == code and resp.json["status"] == status
    if field is not None:
        assert resp.json["field"] == field
