"""A wallet never goes negative, however many spends race for it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Transaction
from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.tenants.models import User
from tests.billing.ledger.threads import run_concurrently

pytestmark = pytest.mark.both


@pytest.fixture
def clearing(app):
    account = ledger.platform_account("sales_clearing", "CNY")
    db.session.commit()
    return account


def test_twenty_concurrent_spends_never_overdraw(app, tree, clearing):
    wallets.credit_wallet(tree.star_customer, 1000)
    user_id, clearing_id = tree.star_customer.id, clearing.id

    def spend(i):
        # the orders service's way: spend inside its transaction, then commit once
        user = db.session.get(User, user_id)
        try:
            wallets.spend_from_wallet_in_txn(user, 70, f"order-{i}", f"ORD-{i}",
                                             db.session.get(Account, clearing_id))
        except ledger.InsufficientBalance:
            db.session.rollback()
            return "refused"
        db.session.commit()
        return "paid"

    results = run_concurrently(app, 20, spend)
    assert set(results) <= {"paid", "refused"}, results
    paid = results.count("paid")
    assert paid == 1000 // 70  # every spend that fits gets through, none beyond
    wallet = ledger.find_user_account(db.session.get(User, user_id))
    assert wallet.balance == 1000 - 70 * paid >= 0
    assert ledger.balance_of(clearing) == 70 * paid
    assert db.session.scalar(select(func.count(Transaction.id))
                             .where(Transaction.kind == "wallet_spend")) == paid
    check = ledger.check_ledger()
    assert check.ok, check.problems


def test_spend_is_idempotent_and_refuses_bad_input(app, tree, clearing):
    customer = tree.star_customer
    with pytest.raises(ledger.InsufficientBalance):  # no wallet yet
        wallets.spend_from_wallet_in_txn(customer, 1, "k0", None, clearing)
    wallets.credit_wallet(customer, 500)
    first = wallets.spend_from_wallet(customer, 200, "k1", "ORD-1", clearing)
    again = wallets.spend_from_wallet(customer, 200, "k1", "ORD-1", clearing)
    assert again.id == first.id and again.replayed
    assert wallets.wallet_balance(customer) == 300
    for bad in (0, -5, 1.5, "10"):
        with pytest.raises(InvalidInput):
            wallets.spend_from_wallet_in_txn(customer, bad, "k2", None, clearing)
    usd = ledger.platform_account("sales_clearing", "USD")
    with pytest.raises(InvalidInput, match="currency|CNY"):
        wallets.spend_from_wallet_in_txn(customer, 10, "k3", None, usd)
    with pytest.raises(ledger.InsufficientBalance):
        wallets.spend_from_wallet(customer, 301, "k4", None, clearing)
    assert wallets.wallet_balance(customer) == 300


def test_wallets_are_per_shop(app, tree, clearing):
    wallets.credit_wallet(tree.star_customer, 500)
    assert wallets.wallet_balance(tree.rocket_customer) == 0
    star_wallet = ledger.find_user_account(tree.star_customer)
    assert star_wallet.tenant_id == tree.star.id
    credits = ledger.shop_account(tree.star, "credits_issued")
    assert credits.balance == -500


def test_topup_and_refund_into_the_wallet(app, tree, clearing):
    stripe = ledger.platform_account("clearing_stripe", "CNY")
    customer = tree.star_customer
    tx = wallets.topup_wallet(customer, 5000, "stripe:pi_1", "pi_1", stripe)
    again = wallets.topup_wallet(customer, 5000, "stripe:pi_1", "pi_1", stripe)
    assert again.id == tx.id  # a repeated webhook
    wallets.refund_to_wallet(customer, 800, "refund:ORD-9", "ORD-9", clearing)
    assert wallets.wallet_balance(customer) == 5800
    assert ledger.balance_of(stripe) == -5000 and ledger.balance_of(clearing) == -800
    kinds = [r.transaction.kind for r in wallets.wallet_history(customer)]
    assert kinds == ["wallet_refund", "wallet_topup"]
