"""Back-office forms for the catalog. The services do the real validation; a form
turns its fields into service arguments (amounts in minor units, JSON parsed)."""
from __future__ import annotations

import json

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from kameng.core.i18n import lazy_gettext as _l
from kameng.core.labels import PRODUCT_KIND, PRODUCT_STATUS
from kameng.core.money import MoneyError, format_plain, parse_amount
from kameng.shop.catalog.models import KINDS, STATUSES

AMOUNT_FIELDS = ("supplier_cost", "wholesale_price", "retail_price")


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired()])
    name_en = StringField(_l("Name (English)"), validators=[Optional()])
    icon = StringField(_l("Icon (URL or emoji)"), validators=[Optional()])
    parent = SelectField(_l("Parent"), choices=[], validate_choice=False)
    position = IntegerField(_l("Position"), validators=[Optional()])


class ProductForm(FlaskForm):
    sku = StringField("SKU", validators=[InputRequired()])
    name = StringField(_l("Name"), validators=[InputRequired()])
    name_en = StringField(_l("Name (English)"), validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=[(k, PRODUCT_KIND[k]) for k in KINDS])
    status = SelectField(_l("Status"), choices=[(s, PRODUCT_STATUS[s]) for s in STATUSES])
    category = SelectField(_l("Category"), choices=[], validate_choice=False)
    supplier_cost = StringField(_l("Supplier cost"), validators=[InputRequired()])
    wholesale_price = StringField(_l("Wholesale price (to sub-shops)"),
                                  validators=[InputRequired()])
    retail_price = StringField(_l("Retail price (own storefront)"), validators=[InputRequired()])
    min_quantity = IntegerField(_l("Minimum per order"), default=1)
    max_quantity = IntegerField(_l("Maximum per order"), default=100)
    description = TextAreaField(_l("Description"), validators=[Optional()])
    description_en = TextAreaField(_l("Description (English)"), validators=[Optional()])
    images = TextAreaField(_l("Image URLs, one per line"), validators=[Optional()])
    fields = TextAreaField(_l("Buyer input fields (JSON)"), validators=[Optional()])
    loop_code = BooleanField(_l("Loop code: deliver the same code to every buyer"))
    low_stock_threshold = IntegerField(_l("Low-stock threshold"), default=10)
    position = IntegerField(_l("Position"), validators=[Optional()])

    def fill(self, product) -> None:
        """Show a product's amounts, category, images and fields as the form edits them."""
        for key in AMOUNT_FIELDS:
            getattr(self, key).data = format_plain(getattr(product, key), product.currency)
        self.category.data = str(product.category_id or "")
        self.images.data = "\n".join(product.images or [])
        self.fields.data = json.dumps(product.fields or [], ensure_ascii=False, indent=1) \
            if product.fields else ""

    def values(self, currency: str) -> dict | None:
        """Service arguments; amount/JSON problems go onto the form (None returned)."""
        values = {k: getattr(self, k).data for k in (
            "sku", "name", "name_en", "kind", "status", "min_quantity", "max_quantity",
            "description", "description_en", "images", "loop_code", "low_stock_threshold",
            "position")}
        values["category"] = int(self.category.data) if self.category.data else None
        values["description"] = values["description"] or ""
        values["description_en"] = values["description_en"] or ""
        values["position"] = values["position"] or 0
        ok = True
        for key in AMOUNT_FIELDS:
            try:
                values[key] = parse_amount(getattr(self, key).data or "", currency)
            except MoneyError as err:
                getattr(self, key).errors = [*getattr(self, key).errors, str(err)]
                ok = False
        raw = (self.fields.data or "").strip()
        try:
            values["fields"] = json.loads(raw) if raw else []
        except ValueError as err:
            self.fields.errors = [*self.fields.errors, _("not valid JSON: %(e)s", e=str(err))]
            ok = False
        return values if ok else None
