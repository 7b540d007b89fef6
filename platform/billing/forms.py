"""Back-office forms for customers' wallets. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from kameng.billing.wallets import NOTE_LIMIT
from kameng.core.i18n import lazy_gettext as _l


class CreditForm(FlaskForm):
    amount = StringField(_l("Amount"), validators=[DataRequired(), Length(max=24)])
    note = TextAreaField(_l("Note"), validators=[Length(max=NOTE_LIMIT)])
    # a one-time token: submitting the same form twice credits once
    token = HiddenField(validators=[DataRequired()])
