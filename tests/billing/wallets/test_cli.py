"""``kameng balance credit|show``: the exact contract, and errors that write nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from kameng.billing import wallets
from kameng.billing.ledger import services as ledger
from kameng.billing.ledger.models import Account, Entry, Transaction
from kameng.core.extensions import db

pytestmark = pytest.mark.both


def _nothing_written():
    for model in (Account, Transaction, Entry):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_credit_and_show(cli, tree):
    result = cli("balance", "credit", "--tenant", "star", "--email", "buyer@star.test",
                 "--amount", "100.00", "--note", "welcome gift")
    assert result.exit_code == 0, result.output
    assert "credited CN¥100.00 to buyer@star.test on star" in result.output
    assert "balance CN¥100.00" in result.output
    assert wallets.wallet_balance(tree.star_customer) == 10000
    credits = ledger.shop_account(tree.star, "credits_issued")
    assert credits.balance == -10000

    result = cli("balance", "credit", "--tenant", "star", "--email", "BUYER@star.test",
                 "--amount", "0.5")
    assert result.exit_code == 0, result.output
    assert wallets.wallet_balance(tree.star_customer) == 10050

    result = cli("balance", "show", "--tenant", "star", "--email", "buyer@star.test")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "buyer@star.test on star: CN¥100.50"
    assert "welcome gift" in result.output and "wallet_credit" in result.output
    assert ledger.check_ledger().ok


def test_show_of_an_unused_wallet(cli, tree):
    result = cli("balance", "show", "--tenant", "rocket", "--email", "buyer@rocket.test")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "buyer@rocket.test on rocket: CN¥0.00"
    _nothing_written()


@pytest.mark.parametrize("args, message", [
    (("--tenant", "nope", "--email", "buyer@star.test", "--amount", "1"), "no shop"),
    (("--tenant", "star", "--email", "nobody@star.test", "--amount", "1"), "no account"),
    # a customer of another shop is not a customer of this one
    (("--tenant", "star", "--email", "buyer@rocket.test", "--amount", "1"), "no account"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "abc"), "bad amount"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "-5"), "bad amount"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "0"), "greater than zero"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "1.001"), "decimal"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "1e3"), "bad amount"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "NaN"), "bad amount"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "99999999999999"),
     "bad amount"),
    (("--tenant", "star", "--email", "buyer@star.test", "--amount", "1", "--note", "x" * 501),
     "longer than 500"),
])
def test_credit_errors(cli, tree, args, message):
    result = cli("balance", "credit", *args)
    assert result.exit_code != 0
    assert "Error:" in result.output and message in result.output, result.output
    _nothing_written()


def test_show_errors(cli, tree):
    result = cli("balance", "show", "--tenant", "star", "--email", "nobody@star.test")
    assert result.exit_code != 0 and "Error: no account" in result.output
