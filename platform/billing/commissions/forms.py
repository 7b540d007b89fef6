"""The billing settings form. The template writes the inputs by hand; this reads
them into ``settings.update_settings`` arguments — the service the CLI calls —
with the CLI's units: percentages, amounts in major units of the shop's currency,
whole days.

A sub-shop's page shows only its promoter share. Whatever platform rule a sub-shop
posts anyway is passed on, so the service refuses it (nothing is written)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import Form, FormField, StringField

from kameng.billing.commissions import settings
from kameng.billing.commissions.models import APPROVERS, FEE_PAYERS
from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import parse_input_amount
from kameng.core.percent import parse_percent

# what each input is called in an error message
LABELS = {
    "promoter_percent": _l("Promoter share"),
    "hold_days": _l("Hold period"),
    "withdraw_min": _l("Minimum withdrawal"),
    "withdraw_fee_fixed": _l("Fixed withdrawal fee"),
    "withdraw_fee_percent": _l("Withdrawal fee"),
    "plan_grace_days": _l("Plan grace period"),
    "fee_percent": _l("Payment fee (%)"),
    "fee_fixed": _l("Payment fee, fixed"),
}
PROVIDER_LABELS = {"balance": _l("Wallet balance"), "stripe": _l("Card (Stripe)"),
                   "epay": _l("易支付 (epay)")}
PLATFORM_INPUTS = ("hold_days", "withdraw_min", "withdraw_fee_fixed", "withdraw_fee_percent",
                   "withdraw_approver", "plan_grace_days",
                   *(f"fee_{p}_{part}" for p in settings.PROVIDERS
                     for part in ("percent", "fixed", "payer")))
MAX_DAYS = 365


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
    withdraw_fee_percent = StringField()
    withdraw_approver = StringField()
    plan_grace_days = StringField()
    hold_days = StringField()
    fee_balance = FormField(ProviderFeeForm, separator="_")
    fee_stripe = FormField(ProviderFeeForm, separator="_")
    fee_epay = FormField(ProviderFeeForm, separator="_")

    def platform_rules_posted(self) -> bool:
        """Whether any of the master's inputs came with the submission."""
        fields = [self.withdraw_min, self.withdraw_fee_fixed, self.withdraw_fee_percent,
                  self.withdraw_approver, self.plan_grace_days, self.hold_days]
        for provider in settings.PROVIDERS:
            fee = getattr(self, f"fee_{provider}")
            fields += [fee.percent, fee.fixed, fee.payer]
        return any(f.raw_data for f in fields)

    def values(self, tenant) -> dict:
        """``update_settings`` arguments; bad input raises ``InvalidInput`` naming the field.

        The master's rules are read for the master, and for a sub-shop that posted
        them anyway (the service refuses them)."""
        values = {"promoter_bp": _percent(self.promoter_percent)}
        if not tenant.is_master and not self.platform_rules_posted():
            return values
        currency = tenant.currency
        values.update({
            "withdraw_min": _amount(self.withdraw_min, currency),
            "withdraw_fee_fixed": _amount(self.withdraw_fee_fixed, currency),
            "withdraw_fee_bp": _percent(self.withdraw_fee_percent),
            "withdraw_approver": _choice(self.withdraw_approver, APPROVERS, "master",
                                         _l("choose who approves withdrawals")),
            "plan_grace_days": _days(self.plan_grace_days, empty=3),
            "hold_days": _days(self.hold_days, empty=None)})
        fees = {}
        for provider in settings.PROVIDERS:
            fee = getattr(self, f"fee_{provider}")
            percent = (fee.percent.data or "").strip()
            fixed = (fee.fixed.data or "").strip()
            if percent or fixed:
                fees[provider] = {
                    "bp": _percent(fee.percent, "fee_percent", fee.percent.name),
                    "fixed": _amount(fee.fixed, currency, "fee_fixed", fee.fixed.name),
                    "payer": _choice(fee.payer, FEE_PAYERS, "seller",
                                     _l("choose who bears the payment fee"))}
        values["provider_fees"] = fees
        return values


def _choice(field, choices, default: str, message) -> str:
    value = (field.data or default).strip()
    if value not in choices:
        raise InvalidInput(message, field=field.name)
    return value


def _label(key: str) -> str:
    return str(LABELS[key])


def _percent(field, key: str | None = None, name: str | None = None) -> int:
    text = (field.data or "").strip() or "0"
    try:
        return parse_percent(text, _label(key or field.name))
    except InvalidInput as err:
        raise InvalidInput(err.text, field=name or field.name) from None


def _amount(field, currency: str, key: str | None = None, name: str | None = None) -> int:
    text = (field.data or "").strip() or "0"
    try:
        return parse_input_amount(text, currency, _label(key or field.name))
    except InvalidInput:
        raise InvalidInput(_l("%(name)s is not an amount: write it like 12.50",
                              name=_label(key or field.name)), field=name or field.name) from None


def _days(field, *, empty):
    text = (field.data or "").strip()
    if not text:
        return empty
    if not text.isdecimal() or int(text) > MAX_DAYS:
        raise InvalidInput(_l("%(name)s must be a whole number of days from 0 to 365",
                              name=_label(field.name)), field=field.name)
    return int(text)
