"""The customer's top-up form. The template writes the input by hand; the service
parses and checks the amount."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField


class TopupForm(FlaskForm):
    class Meta:
        csrf = False  # CSRFProtect has checked the request already

    amount = StringField(default="")
    method = StringField(default="")  # "stripe" or "epay:<channel>"
