"""Back-office forms for card-code stock. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from kameng.core.i18n import lazy_gettext as _l


class ImportForm(FlaskForm):
    codes = TextAreaField(_l("Paste codes, one per line"), validators=[Optional()])
    upload = FileField(_l("…or upload a .txt / .csv file"))
    separator = StringField(_l("Separator for code/password pairs (empty: one code per line; "
                               "'tab' for a tab)"), validators=[Optional()])
    cost_note = StringField(_l("Cost note"), validators=[Optional()])


class VoidCodeForm(FlaskForm):
    code_id = IntegerField(_l("Code id"), validators=[InputRequired()])


class VoidCodesForm(FlaskForm):
    """The selected codes come as repeated ``code`` values (checkboxes), read by the view."""
    reason = StringField(_l("Reason"), validators=[Optional()])
