"""Every stored identifier of a vocabulary has a label, in both languages; an unknown one
reads as words, never with underscores."""
from __future__ import annotations

import pytest
from flask_babel import force_locale

from kameng.core import labels
from kameng.core.i18n import LazyText


def vocabularies_and_their_identifiers():
    from kameng.billing.commissions.models import APPROVERS, COMMISSION_STATUSES, FEE_PAYERS
    from kameng.billing.ledger.models import PLATFORM_KINDS, TENANT_KINDS, USER_KINDS
    from kameng.billing.payments.epay import CHANNELS
    from kameng.billing.payments.models import PROVIDER_NAMES
    from kameng.billing.plans.models import INTERVALS, SUB_STATUSES
    from kameng.billing.plans.services import FEATURES
    from kameng.billing.withdrawals.models import METHOD_KINDS, WITHDRAWAL_STATUSES
    from kameng.sales.models import (
        LINE_STATUSES,
        ORDER_STATUSES,
        REFUND_KINDS,
        REFUND_REQUEST_STATUSES,
        REFUND_STEP_ACTIONS,
    )
    from kameng.shop.catalog.models import KINDS, STATUSES
    from kameng.shop.stock.models import BATCH_STATUSES, CODE_STATUSES
    from kameng.shop.storefront.queries import IN_STOCK, LOW, SOLD_OUT
    from kameng.tenants.models import ROLES, TENANT_STATUSES
    from kameng.tenants.openshop import SIGNUP_MODES

    return {
        "order": ORDER_STATUSES, "line": LINE_STATUSES, "product_kind": KINDS,
        "product": STATUSES, "stock": (IN_STOCK, LOW, SOLD_OUT), "code": CODE_STATUSES,
        "batch": BATCH_STATUSES, "role": ROLES, "tenant": TENANT_STATUSES,
        "account": {*USER_KINDS, *TENANT_KINDS, *PLATFORM_KINDS},
        "commission": COMMISSION_STATUSES, "withdrawal": WITHDRAWAL_STATUSES,
        "payout_method": METHOD_KINDS, "payment": (*PROVIDER_NAMES, *CHANNELS),
        "plan": SUB_STATUSES, "interval": INTERVALS, "feature": FEATURES,
        "refund_request": REFUND_REQUEST_STATUSES, "refund_step": REFUND_STEP_ACTIONS,
        "refund_kind": REFUND_KINDS, "approver": APPROVERS, "fee_payer": FEE_PAYERS,
        "signup": SIGNUP_MODES,
    }


def test_every_identifier_the_models_store_has_a_label():
    missing = {name: sorted(set(ids) - set(labels.VOCABULARIES[name]))
               for name, ids in vocabularies_and_their_identifiers().items()}
    assert not {k: v for k, v in missing.items() if v}, missing


def test_every_transaction_kind_the_code_posts_has_a_label():
    """The kinds passed to the ledger (found in the source, as the crawl would find them
    on a page) are all labelled."""
    import ast
    from pathlib import Path

    import kameng.billing

    root = Path(kameng.billing.__file__).parents[1]
    kinds = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
                if (name in ("post", "post_in_txn") and len(node.args) >= 2
                        and isinstance(node.args[1], ast.Constant)):
                    kinds.add(node.args[1].value)
                if name in ("_move_in_txn", "_into_wallet") and len(node.args) >= 3:
                    arg = node.args[3] if name == "_move_in_txn" else node.args[2]
                    if isinstance(arg, ast.Constant):
                        kinds.add(arg.value)
    assert {"order_payment", "wallet_credit", "commission"} <= kinds
    assert kinds <= set(labels.TRANSACTION), kinds - set(labels.TRANSACTION)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_labels_are_lazy_and_translated(app, locale):
    for vocabulary in labels.VOCABULARIES.values():
        for text in vocabulary.values():
            assert isinstance(text, LazyText)
    with app.test_request_context(), force_locale(locale):
        shown = str(labels.label("earnings_pending", "account"))
        assert shown == ("Earnings on hold" if locale == "en" else "冻结中的收益")
        assert str(labels.label("delivered", "order")) == ("Delivered" if locale == "en"
                                                           else "已发货")
        assert labels.label("clearing_alipay", "account") == "clearing alipay"
        assert labels.label(None, "order") == ""
