"""Forms (and their validation) for signing in and up."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


class RegisterForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    display_name = StringField(_l("Name"), validators=[Length(max=120)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField(_l("Repeat password"),
                            validators=[DataRequired(), EqualTo("password")])
