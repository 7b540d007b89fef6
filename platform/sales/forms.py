"""Checkout and lookup forms, and the back office's manual delivery and refund forms.

CSRF is checked for every POST by the app's ``CSRFProtect``; these forms only
parse and validate. A product's own input fields (``field_<name>``) vary by
product: the checkout view reads them and the catalog service validates them.
"""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from kameng.core.i18n import lazy_gettext as _l
from kameng.sales.manual import MAX_CODES

CONTACT_MAX = 254
PASSWORD_MIN, PASSWORD_MAX = 4, 128


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _order_number(value):
    # order numbers are upper case (no look-alike letters); buyers type them any way
    return "".join(value.split()).upper() if isinstance(value, str) else value


class CheckoutForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect has checked the request already

    sku = HiddenField(filters=[_strip], validators=[DataRequired()])
    quantity = IntegerField(_l("Quantity"), default=1, validators=[
        InputRequired(_l("Enter a quantity.")),
        NumberRange(min=1, message=_l("Enter a quantity of at least 1."))])
    contact = StringField(_l("Contact"), filters=[_strip],
                          validators=[Length(max=CONTACT_MAX)])
    lookup_password = PasswordField(_l("Lookup password"),
                                    validators=[Optional(), Length(max=PASSWORD_MAX)])
    payment_method = StringField(filters=[_strip], validators=[Length(max=32)])
    coupon = StringField(_l("Coupon code"), filters=[_strip], validators=[Length(max=32)])
    token = HiddenField(validators=[Length(max=64)])

    def check_guest(self) -> bool:
        """A guest must leave a contact and a lookup password to find the order later."""
        ok = True
        if not self.contact.data:
            self.contact.errors = list(self.contact.errors) + [
                _l("Give an e-mail address or phone number to find the order later.")]
            ok = False
        elif any(ord(c) < 32 for c in self.contact.data):
            self.contact.errors = list(self.contact.errors) + [_l("This contact is not valid.")]
            ok = False
        password = self.lookup_password.data or ""
        if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
            self.lookup_password.errors = list(self.lookup_password.errors) + [
                _l("Choose a lookup password of at least %(n)s characters.", n=PASSWORD_MIN)]
            ok = False
        return ok


class LookupForm(FlaskForm):
    class Meta:
        csrf = False

    # optional: the contact and the lookup password alone find the buyer's orders
    order_number = StringField(_l("Order number"), filters=[_order_number],
                               validators=[Optional(), Length(max=64)])
    contact = StringField(_l("Contact"), filters=[_strip],
                          validators=[DataRequired(), Length(max=CONTACT_MAX)])
    lookup_password = PasswordField(_l("Lookup password"),
                                    validators=[DataRequired(), Length(max=PASSWORD_MAX)])


class ManualDeliveryForm(FlaskForm):
    codes = TextAreaField(_l("Codes (one per line)"),
                          validators=[DataRequired(), Length(max=MAX_CODES * 520)])


class RefundForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=255)])


class RefundRequestForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class RefundDecisionForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
