"""Forms (and their validation) for signing in and up, and for API keys."""
from __future__ import annotations

from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from kameng.core.errors import ServiceError
from kameng.core.i18n import lazy_gettext as _l
from kameng.tenants import api_keys


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class TwoFactorForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)],
                       description=_l("The 6-digit code of your authenticator app, "
                                      "or one of your recovery codes."),
                       render_kw={"autocomplete": "one-time-code", "autofocus": True})


class RegisterForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Length(max=120)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password")])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"),
                             validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password")])


class CreateKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Length(max=api_keys.NAME_MAX)],
                       description=_l("What the key is for, e.g. 'my shop's sync script'."))


class RevokeKeyForm(FlaskForm):
    """Nothing but the CSRF token."""


def create_key_from_form(form: CreateKeyForm) -> tuple[str | None, int]:
    """Create a key for the current user from the posted form: (plaintext or None, status).

    Shared by the storefront account page and the back office.
    """
    if not form.validate_on_submit():
        return None, 422
    try:
        made = api_keys.create_key(current_user, form.name.data)
    except ServiceError as err:
        form.name.errors = [err.message]
        return None, 422
    return made.plaintext, 200
