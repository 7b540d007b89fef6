"""Forms of the API key pages (the back office's and the customer's)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length

from kameng.api.services import NAME_MAX


class CreateKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=NAME_MAX)],
                       description=_l("What the key is for, e.g. 'my shop's sync script'."))


class RevokeKeyForm(FlaskForm):
    """Nothing but the CSRF token."""
