"""Back-office forms for payout methods and withdrawals. The templates write the
inputs by hand; these read them. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField

from kameng.core.money import parse_input_amount


class PayoutMethodForm(FlaskForm):
    kind = StringField(default="")
    account = StringField(default="")
    holder = StringField(default="")
    bank_name = StringField(default="")


class WithdrawalRequestForm(FlaskForm):
    amount = StringField(default="")
    method = IntegerField(default=0)
    token = StringField()   # one per rendered form: a double submit requests once

    def amount_minor(self, currency: str) -> int:
        return parse_input_amount(self.amount.data, currency)

    def method_id(self) -> int:
        return self.method.data or 0   # missing or not a number: no such method


class DecisionForm(FlaskForm):
    """Reject (with a note) or mark paid (with the payment's reference)."""

    note = StringField()
    reference = StringField()
