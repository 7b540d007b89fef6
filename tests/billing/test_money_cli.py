"""Operators' money commands end to end: commissions → balances → withdrawals, and plans."""
from __future__ import annotations

import json
import re

import pytest

from kameng.billing.commissions.services import mature_commissions
from kameng.billing.ledger.services import check_ledger
from kameng.core.scoping import tenant_scope
from kameng.sales import services as orders
from kameng.sales.commissions import post_commissions
from kameng.sales.fulfilment import fulfil
from tests.orders.helpers import card_product, fund

pytestmark = pytest.mark.both


def balances(cli, slug):
    result = cli("ledger", "balances", "--tenant", slug, "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    return row


def test_commission_to_withdrawal_through_the_cli(app, tree, cli):
    assert cli("commissions", "settings", "--tenant", "master", "--hold-days", "0",
               "--withdraw-min", "0.01").exit_code == 0
    product = card_product(codes=3)
    assert cli("markup", "set", "--tenant", "star", "--percent", "10", "--wholesale").exit_code == 0
    fund(tree.rocket_customer, 100_000)
    with tenant_scope(tree.rocket.id):
        order = orders.place_order(tree.rocket, sku=product.sku, quantity=2,
                                   customer=tree.rocket_customer).order
        fulfil(order.id)
    post_commissions(order.id)
    assert mature_commissions() == 1
    star = balances(cli, "star")
    margin = [lv for lv in order.lines[0].chain if lv["tenant_id"] == tree.star.id][0]
    assert star["available"] == 2 * (margin["price"] - margin["cost"]) == star["earned_total"]
    assert star["available"] > 0 and star["pending"] == 0 and star["currency"] == "CNY"

    added = cli("withdrawals", "add-method", "--tenant", "star", "--kind", "alipay",
                "--account", "13800138000", "--holder", "Star")
    assert added.exit_code == 0, added.output
    method_id = re.search(r"payout method (\d+)", added.output).group(1)
    too_much = cli("withdrawals", "request", "--tenant", "star", "--method", method_id,
                   "--amount", "99999.00")
    assert too_much.exit_code != 0
    bad = cli("withdrawals", "request", "--tenant", "star", "--method", method_id,
              "--amount", "1.005")
    assert bad.exit_code != 0
    amount = f"{star['available'] / 100:.2f}"
    req = cli("withdrawals", "request", "--tenant", "star", "--method", method_id,
              "--amount", amount)
    assert req.exit_code == 0, req.output
    wid = re.search(r"W(\d+)", req.output).group(1)
    assert balances(cli, "star")["available"] == 0
    assert cli("withdrawals", "approve", wid).exit_code == 0
    assert cli("withdrawals", "pay", wid, "--reference", "ALI-123").exit_code == 0
    assert "paid" in cli("withdrawals", "list", "--status", "paid").output
    assert check_ledger().ok
    assert cli("ledger", "check").exit_code == 0


def test_plans_through_the_cli(app, tree, cli):
    made = cli("plans", "create", "--tenant", "master", "--code", "pro", "--name", "专业版",
               "--price", "99.00", "--sub-shops", "--custom-domain")
    assert made.exit_code == 0, made.output
    assert "¥99.00" in made.output
    assert cli("plans", "create", "--tenant", "master", "--code", "bad", "--name", "x",
               "--price", "ten").exit_code != 0
    assert cli("plans", "assign", "--tenant", "star", "--plan", "pro").exit_code == 0
    listed = cli("plans", "list", "--tenant", "master")
    assert "pro" in listed.output


def test_amounts_on_the_command_line_refuse_exponents_and_stray_commas(app, tree, cli):
    """'1e30' is an error line, not a traceback; '1,0' is not ten."""
    for price in ("1e30", "1,0", "NaN", "9" * 30):
        made = cli("plans", "create", "--tenant", "master", "--code", "odd", "--name", "x",
                   "--price", price)
        assert made.exit_code != 0 and isinstance(made.exception, SystemExit), made.output
        assert "Error:" in made.output and ("not an amount" in made.output
                                            or "too large" in made.output), made.output
    product = cli("products", "create", "--sku", "BIG-1", "--name", "big", "--kind", "card",
                  "--cost", "1e30", "--wholesale", "1", "--retail", "2")
    assert product.exit_code != 0 and isinstance(product.exception, SystemExit), product.output
    assert "not an amount" in product.output
    made = cli("plans", "create", "--tenant", "master", "--code", "grand", "--name", "x",
               "--price", "1,000.00")
    assert made.exit_code == 0, made.output
    assert "¥1,000.00" in made.output
