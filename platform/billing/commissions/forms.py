"""The billing settings form. The template writes the inputs by hand; this reads
them into ``settings.update_settings`` arguments (basis points, whole numbers)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Form, FormField, StringField

from kameng.billing.commissions import settings
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.percent import parse_percent


class ProviderFeeForm(Form):
    """fee_<provider>_percent, fee_<provider>_fixed, fee_<provider>_payer."""

    percent = StringField(default="")
    fixed = StringField(default="")
    payer = StringField(default="seller")


class BillingSettingsForm(FlaskForm):
    promoter_percent = StringField(default="0")
    # the platform-wide rules: the master only
    withdraw_min = StringField()
    withdraw_fee_fixed = StringField()
    withdraw_fee_percent = StringField(default="0")
    withdraw_approver = StringField(default="master")
    plan_grace_days = StringField()
    hold_days = StringField()
    fee_balance = FormField(ProviderFeeForm, separator="_")
    fee_stripe = FormField(ProviderFeeForm, separator="_")
    fee_epay = FormField(ProviderFeeForm, separator="_")

    def values(self, is_master: bool) -> dict:
        """``update_settings`` arguments; bad input raises ``InvalidInput`` naming the field."""
        values = {"promoter_bp": parse_percent(self.promoter_percent.data,
                                                        "promoter_percent")}
        if not is_master:
            return values
        values.update({
            "withdraw_min": _whole(self.withdraw_min),
            "withdraw_fee_fixed": _whole(self.withdraw_fee_fixed),
            "withdraw_fee_bp": parse_percent(self.withdraw_fee_percent.data,
                                                      "withdraw_fee"),
            "withdraw_approver": self.withdraw_approver.data,
            "plan_grace_days": _whole(self.plan_grace_days)})
        hold = (self.hold_days.data or "").strip()
        values["hold_days"] = _whole(self.hold_days) if hold else None
        fees = {}
        for provider in settings.PROVIDERS:
            fee = getattr(self, f"fee_{provider}")
            percent = (fee.percent.data or "").strip()
            fixed = (fee.fixed.data or "").strip()
            if percent or fixed:
                fees[provider] = {"bp": parse_percent(percent or "0", "fee"),
                                  "fixed": _whole(fee.fixed) if fixed else 0,
                                  "payer": fee.payer.data}
        values["provider_fees"] = fees
        return values


def _whole(field) -> int:
    try:
        return int((field.data or "0").strip())
    except ValueError:
        raise InvalidInput(_l("%(name)s must be a whole number", name=field.name),
                           field=field.name) from None
