"""Back-office forms for a shop's payment methods."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from kameng.billing.payments.epay import CHANNELS
from kameng.core.i18n import lazy_gettext as _l

CHANNEL_LABELS = {"alipay": _l("Alipay"), "wxpay": _l("WeChat Pay"), "qqpay": _l("QQ Pay")}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ToggleForm(FlaskForm):
    """balance and stripe: on or off, nothing else to set per shop."""

    enabled = BooleanField(_l("Enabled"))


class EpayForm(FlaskForm):
    enabled = BooleanField(_l("Enabled"))
    apiurl = StringField(_l("Gateway address"), validators=[Optional(), Length(max=255)],
                         description=_l("e.g. https://pay.example.com/ (ending in /)"))
    pid = StringField(_l("Merchant id (pid)"), validators=[Optional(), Length(max=64)])
    # never pre-filled: a stored key is not shown back; blank keeps it
    key = PasswordField(_l("Merchant key"), validators=[Optional(), Length(max=128)])
    types = MultiCheckboxField(_l("Channels"),
                               choices=[SelectChoice(c, CHANNEL_LABELS[c]) for c in CHANNELS])


FORMS = {"balance": ToggleForm, "stripe": ToggleForm, "epay": EpayForm}
