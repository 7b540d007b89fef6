"""64 API buyers race for the last 10 codes: 10 orders delivered, nobody else charged."""
from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select

from kameng.billing.ledger.services import check_ledger
from kameng.billing.wallets import wallet_balance
from kameng.core.extensions import db
from kameng.core.scoping import tenant_scope
from kameng.sales.fulfilment import fulfil
from kameng.sales.models import Order
from kameng.shop.pricing.services import price_for
from tests.api.helpers import api_account, auth, order
from tests.orders.helpers import card_product

pytestmark = pytest.mark.both

BUYERS = 64
CODES = 10
FUNDS = 5_000


def test_64_buyers_race_for_the_last_10_codes(app, tree, client_for):
    product = card_product("LAST-10", codes=CODES)
    buyers = [api_account(tree.star, f"buyer{i}@star.test", funds=FUNDS) for i in range(BUYERS)]
    price = price_for(tree.star, product, buyers[0][0])
    db.session.commit()

    answers: dict[int, tuple[int, dict]] = {}
    barrier = threading.Barrier(BUYERS)

    def buy(i: int, key: str):
        with app.app_context():
            client = client_for("star.localhost")   # each buyer: its own client and key
            barrier.wait()
            resp = order(client, key, "LAST-10", f"race-{i}")
            answers[i] = (resp.status_code, resp.json)

    threads = [threading.Thread(target=buy, args=(i, key)) for i, (_u, key) in enumerate(buyers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    statuses = Counter(status for status, _ in answers.values())
    assert statuses == {201: CODES, 409: BUYERS - CODES}, statuses
    assert all(body["code"] == "out_of_stock" for s, body in answers.values() if s == 409)

    winners = {i: body["order_no"] for i, (s, body) in answers.items() if s == 201}
    with tenant_scope(tree.star.id):
        for order_no in winners.values():
            found = db.session.scalar(select(Order).where(Order.order_no == order_no))
            assert fulfil(found.id).status == "delivered"

    client = client_for("star.localhost")
    delivered = []
    for i, order_no in winners.items():
        got = client.get(f"/api/v1/orders/{order_no}", headers=auth(buyers[i][1])).json
        assert got["status"] == "delivered" and len(got["codes"]) == 1
        delivered.extend(got["codes"])
    assert len(delivered) == len(set(delivered)) == CODES   # no code went out twice

    for i, (user, _key) in enumerate(buyers):
        expected = FUNDS - price if i in winners else FUNDS
        assert wallet_balance(user) == expected, (i, wallet_balance(user))
    assert check_ledger().ok
