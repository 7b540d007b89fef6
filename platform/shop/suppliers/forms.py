"""Back-office forms for suppliers. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from kameng.core.i18n import lazy_gettext as _l

ADAPTER_CHOICES = [SelectChoice("local", _l("Local stock")),
                   SelectChoice("http_topup", _l("HTTP top-up API"))]


class SupplierForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    adapter = SelectField(_l("Adapter"), choices=ADAPTER_CHOICES, default="http_topup")
    base_url = StringField(_l("Base URL"), validators=[Optional(), Length(max=500)])
    key_id = StringField(_l("Key id"), validators=[Optional(), Length(max=128)])
    # never rendered back (hide_value); empty on edit keeps the stored secret
    secret = PasswordField(_l("Secret"), validators=[Optional(), Length(max=512)])
    connect_timeout = StringField(_l("Connect timeout (s)"), validators=[Optional()])
    read_timeout = StringField(_l("Read timeout (s)"), validators=[Optional()])
    enabled = BooleanField(_l("Enabled"), default=True)


class SyncForm(FlaskForm):
    update_costs = BooleanField(_l("Take upstream prices as our supplier cost"))


class MapForm(FlaskForm):
    supplier_sku = HiddenField(validators=[DataRequired()])
    product_sku = StringField(_l("Our product SKU"), validators=[DataRequired(),
                                                                 Length(max=64)])
    take_cost = BooleanField(_l("Take the upstream price as supplier cost"))


class ActionForm(FlaskForm):
    """A button that only needs its CSRF token."""
