"""The back-office billing forms read the hand-written inputs as the views did."""
from __future__ import annotations

import pytest

from kameng.billing.commissions.forms import BillingSettingsForm
from kameng.billing.plans.forms import PayPlanForm, PlanForm
from kameng.billing.withdrawals.forms import DecisionForm, WithdrawalRequestForm
from kameng.core.errors import InvalidInput


def _post(app, data):
    # no shop here: the visitor's language decides, and the messages are asserted in English
    return app.test_request_context("/", method="POST", data=data,
                                    headers={"Accept-Language": "en"})


def test_billing_settings_values(app):
    from types import SimpleNamespace

    master = SimpleNamespace(is_master=True, currency="CNY")
    shop = SimpleNamespace(is_master=False, currency="CNY")
    with _post(app, {"promoter_percent": "5"}):
        assert BillingSettingsForm().values(shop) == {"promoter_bp": 500}
    with _post(app, {"promoter_percent": "5", "hold_days": "", "withdraw_min": "100",
                     "withdraw_fee_percent": "1", "withdraw_approver": "parent",
                     "fee_stripe_percent": "2.9", "fee_stripe_fixed": "0.30",
                     "fee_stripe_payer": "master", "fee_epay_percent": " "}):
        expected = {
            "promoter_bp": 500, "withdraw_min": 10000, "withdraw_fee_fixed": 0,
            "withdraw_fee_bp": 100, "withdraw_approver": "parent", "plan_grace_days": 3,
            "hold_days": None,
            "provider_fees": {"stripe": {"bp": 290, "fixed": 30, "payer": "master"}}}
        assert BillingSettingsForm().values(master) == expected
        # a sub-shop that posts the master's rules has them passed on: the service refuses
        assert BillingSettingsForm().values(shop) == expected
    with _post(app, {"fee_balance_fixed": "3x"}):
        with pytest.raises(InvalidInput) as caught:
            BillingSettingsForm().values(master)
        assert caught.value.field == "fee_balance_fixed"
        assert caught.value.message == "Payment fee, fixed is not an amount: write it like 12.50"
    with _post(app, {"hold_days": "400"}):
        with pytest.raises(InvalidInput) as caught:
            BillingSettingsForm().values(master)
        assert caught.value.field == "hold_days"
        assert caught.value.message == ("Hold period must be a whole number of days from 0 "
                                        "to 365")


def test_plan_form_values(app):
    with _post(app, {"code": "basic", "name": "Basic", "price": "30.00",
                     "custom_domain": "1", "max_staff": "3"}):
        assert PlanForm().values("CNY") == {
            "code": "basic", "name": "Basic", "price": 3000, "interval": "month",
            "base_plan_id": None, "custom_domain": True, "sub_shops": False, "own_gateway": False,
            "max_markup_bp": None, "max_staff": 3}
    with _post(app, {"code": "b", "name": "B", "price": "1", "max_markup": "12.5"}):
        assert PlanForm().values("CNY")["max_markup_bp"] == 1250
    for bad in ("ten", "12.345", "-1", "1000.01"):
        with _post(app, {"price": "1", "max_markup": bad}):
            with pytest.raises(InvalidInput) as caught:
                PlanForm().values("CNY")
            assert caught.value.field == "max_markup"


def test_missing_or_bad_ids_read_as_zero(app):
    with _post(app, {"plan": "x", "method": ""}):
        assert PayPlanForm().plan_id() == 0 and WithdrawalRequestForm().method_id() == 0
        form = DecisionForm()
        assert form.note.data is None and form.reference.data is None
    with _post(app, {"plan": "7", "method": "9", "amount": "1.50", "note": "no"}):
        assert PayPlanForm().plan_id() == 7
        request = WithdrawalRequestForm()
        assert request.method_id() == 9 and request.amount_minor("CNY") == 150
        assert DecisionForm().note.data == "no"
