"""Back-office forms for funded accounts. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from kameng.billing.funding.services import NOTE_LIMIT
from kameng.core.i18n import lazy_gettext as _l


class EarningsToFundedForm(FlaskForm):
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=24)])
    # a one-time token: submitting the same form twice moves the money once
    token = HiddenField(validators=[DataRequired()])


class OwnGatewayForm(FlaskForm):
    """The parent's say on a sub-shop's own payment gateway."""

    own_gateway = SelectField(_l("Own payment gateway"),
                              choices=[SelectChoice("plan", _l("As its plan allows")),
                                       SelectChoice("allow", _l("Allowed")),
                                       SelectChoice("deny", _l("Not allowed"))],
                              default="plan")


class FundShopForm(FlaskForm):
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=24)])
    source = SelectField(_l("Pay from"),
                         choices=[SelectChoice("funded", _l("My funded account")),
                                  SelectChoice("earnings", _l("My earnings"))],
                         default="funded")
    note = TextAreaField(_l("Note"), validators=[Length(max=NOTE_LIMIT)])
    token = HiddenField(validators=[DataRequired()])
