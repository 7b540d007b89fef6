"""Back-office forms for the catalog. The services do the real validation; a form
turns its fields into service arguments (amounts in minor units, JSON parsed)."""
from __future__ import annotations

from types import SimpleNamespace

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.labels import PRODUCT_KIND, PRODUCT_STATUS
from kameng.core.money import MoneyError, format_plain, parse_amount
from kameng.shop.catalog.models import KINDS, STATUSES
from kameng.shop.catalog.services import FIELD_TYPES, validate_fields

FIELD_TYPE_LABELS = {"text": _l("Text"), "phone": _l("Phone number"), "email": _l("E-mail"),
                     "number": _l("Number"), "qq": _l("QQ number")}

AMOUNT_FIELDS = ("supplier_cost", "wholesale_price", "retail_price")


class CategoryForm(FlaskForm):
    name = StringField(_l("Name"), validators=[InputRequired()])
    name_en = StringField(_l("Name (English)"), validators=[Optional()])
    icon = StringField(_l("Icon (URL or emoji)"), validators=[Optional()])
    parent = SelectField(_l("Parent"), choices=[], validate_choice=False)
    position = IntegerField(_l("Position"), validators=[Optional()])


class BuyerFieldRow(Form):
    """One buyer input field of the editor (a row); an empty row is left out."""
    name = StringField(_l("Field name (a-z, 0-9, _)"), validators=[Optional()])
    label = StringField(_l("Label (Chinese)"), validators=[Optional()])
    label_en = StringField(_l("Label (English)"), validators=[Optional()])
    type = SelectField(_l("Type"), choices=[(t, FIELD_TYPE_LABELS[t]) for t in FIELD_TYPES],
                       validate_choice=False, default="text")
    regex = StringField(_l("Pattern (regular expression, optional)"), validators=[Optional()])
    required = BooleanField(_l("Required"), default=True)
    remove = BooleanField(_l("Remove this field"))

    def is_blank(self) -> bool:
        return not any((getattr(self, k).data or "").strip()
                       for k in ("name", "label", "label_en", "regex"))

    def spec(self) -> dict:
        return {"name": (self.name.data or "").strip(), "label": self.label.data or "",
                "label_en": self.label_en.data or None, "type": self.type.data or "text",
                "regex": (self.regex.data or "") or None, "required": bool(self.required.data)}


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
    upload = FileField(_l("Upload an image (JPEG, PNG, WebP or GIF)"))
    fields = FieldList(FormField(BuyerFieldRow), label=_l("Buyer input fields"))
    loop_code = BooleanField(_l("Loop code: deliver the same code to every buyer"))
    low_stock_threshold = IntegerField(_l("Low-stock threshold"), default=10)
    position = IntegerField(_l("Position"), validators=[Optional()])

    def fill(self, product) -> None:
        """Show a product's amounts, category, images and fields as the form edits them."""
        for key in AMOUNT_FIELDS:
            getattr(self, key).data = format_plain(getattr(product, key), product.currency)
        self.category.data = str(product.category_id or "")
        self.images.data = "\n".join(product.images or [])
        while len(self.fields.entries):
            self.fields.pop_entry()
        for spec in product.fields or []:
            self.fields.append_entry(SimpleNamespace(**{
                **spec, "regex": spec.get("regex") or "", "label_en": spec.get("label_en") or "",
                "remove": False}))

    def with_blank_row(self) -> ProductForm:
        """One empty row at the end of the field editor: how a field is added."""
        if not self.fields.entries or not self.fields.entries[-1].form.is_blank():
            self.fields.append_entry()
        return self

    def buyer_fields(self) -> list[dict] | None:
        """The editor's rows as the stored list; a row's problem goes next to that row."""
        rows, ok, seen = [], True, {}
        for number, entry in enumerate(self.fields.entries, 1):
            row = entry.form
            if row.remove.data or row.is_blank():
                continue
            spec = row.spec()
            try:
                validate_fields([spec], first=number)
            except InvalidInput as err:
                row.name.errors = [*row.name.errors, err.message]
                ok = False
                continue
            if spec["name"] in seen:
                row.name.errors = [*row.name.errors, _l("field name %(name)r is used twice",
                                                        name=spec["name"])]
                ok = False
                continue
            seen[spec["name"]] = True
            rows.append(spec)
        return rows if ok else None

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
        fields = self.buyer_fields()
        if fields is None:
            ok = False
        else:
            values["fields"] = fields
        return values if ok else None
