"""Back-office forms for markup rules and the sub-shop cap."""
from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Optional

from kameng.core.errors import InvalidInput
from kameng.core.extensions import db
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.percent import parse_percent
from kameng.shop.catalog.models import Category, Product
from kameng.shop.pricing import services
from kameng.shop.pricing.models import ROUNDINGS

ROUNDING_LABELS = {"fen": _l("0.01 (half up)"), "jiao": _l("0.1 (half up)"),
                   "yuan": _l("1 (half up)"), "x9": _l("up to .x9")}


class MarkupForm(FlaskForm):
    target = SelectField(_l("Applies to"), default="shop")
    purpose = SelectField(_l("Price"), default="retail", choices=[
        SelectChoice("retail", _l("Retail (my storefront)")),
        SelectChoice("wholesale", _l("Wholesale (to my sub-shops)"))])
    kind = SelectField(_l("Markup"), default="percent", choices=[
        SelectChoice("percent", _l("Percent of cost")),
        SelectChoice("fixed", _l("Fixed amount"))])
    value = StringField(_l("Value"), validators=[DataRequired()])
    rounding = SelectField(_l("Rounding"), default="fen",
                           choices=[SelectChoice(r, ROUNDING_LABELS[r]) for r in ROUNDINGS])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target.choices = target_choices()

    def rule_args(self, currency: str) -> dict:
        """Service arguments for the submitted rule (raises InvalidInput)."""
        return rule_args(self.data, currency)


class CapForm(FlaskForm):
    max_percent = StringField(_l("Max markup of my sub-shops (%)"), validators=[Optional()])


def target_choices() -> list[SelectChoice]:
    # translated now (plain str): the widget escapes the names like any other text
    choices = [SelectChoice("shop", _l("Whole shop"))]
    for cid, name in db.session.execute(select(Category.id, Category.name)
                                        .order_by(Category.position, Category.name)):
        choices.append(SelectChoice(f"category:{cid}", _("Category: %(name)s", name=name)))
    for pid, sku, name in db.session.execute(select(Product.id, Product.sku, Product.name)
                                             .order_by(Product.sku)):
        choices.append(SelectChoice(f"product:{pid}", _("Product: %(sku)s %(name)s",
                                                        sku=sku, name=name)))
    return choices


def rule_args(data: Mapping, currency: str) -> dict:
    """Service arguments for a rule from form or query data (raises InvalidInput)."""
    target = (data.get("target") or "shop").strip()
    level, _, ident = target.partition(":")
    kwargs: dict = {"level": level, "wholesale": data.get("purpose") == "wholesale",
                    "rounding": data.get("rounding") or "fen",
                    "kind": data.get("kind") or "percent"}
    if level in ("category", "product"):
        if not ident.isdigit():
            raise InvalidInput(_l("choose what the rule applies to"), field="target")
        kwargs[f"{level}_id"] = int(ident)
    elif level != "shop":
        raise InvalidInput(_l("choose what the rule applies to"), field="target")
    raw = (data.get("value") or "").strip()
    if not raw:
        raise InvalidInput(_l("give the markup value"), field="value")
    if kwargs["kind"] == "percent":
        kwargs["value"] = parse_percent(raw, "value", maximum_bp=services.MAX_MARKUP_BP)
    elif kwargs["kind"] == "fixed":
        kwargs["value"] = services.parse_money(raw, currency, "value")
    else:
        raise InvalidInput(_l("kind must be percent or fixed"), field="kind")
    return kwargs
