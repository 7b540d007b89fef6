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


class TierForm(FlaskForm):
    """A customer tier (会员等级): the same arguments as ``kameng tiers set``."""

    name = StringField(_l("Tier name"))
    discount = StringField(_l("Discount (%)"))
    min_spend = StringField(_l("Reached at a total spend of"))

    def values(self, currency: str) -> tuple[str, int, int]:
        """(name, discount_bp, min_spend) for ``services.set_tier`` (raises InvalidInput)."""
        name = (self.name.data or "").strip()
        if not name:
            raise InvalidInput(_l("a tier needs a name (at most 60 characters)"), field="name")
        bp = _percent(self.discount.data, _("Discount"), "discount")
        spend_text = (self.min_spend.data or "").strip() or "0"
        try:
            spend = services.parse_money(spend_text, currency, "min_spend")
        except InvalidInput:
            raise InvalidInput(_l("%(name)s is not an amount: write it like 12.50",
                                  name=_("Total spend")), field="min_spend") from None
        return name, bp, spend


class QuantityDiscountForm(FlaskForm):
    """A quantity step (批发价): the same arguments as ``kameng qty-discount set``."""

    target = SelectField(_l("Applies to"), default="")
    min_quantity = StringField(_l("From (units)"))
    percent = StringField(_l("Discount (%)"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target.choices = [SelectChoice("", _l("Every product"))] + [
            SelectChoice(str(pid), _("Product: %(sku)s %(name)s", sku=sku, name=name))
            for pid, sku, name in db.session.execute(
                select(Product.id, Product.sku, Product.name).order_by(Product.sku))]

    def values(self) -> tuple[int, int, int | None]:
        """(min_quantity, discount_bp, product_id) for ``services.set_quantity_discount``."""
        text = (self.min_quantity.data or "").strip()
        if not text.isdecimal() or int(text) < 1:
            raise InvalidInput(_l("a quantity discount starts from a whole number of units, "
                                  "1 or more"), field="min_quantity")
        bp = _percent(self.percent.data, _("Discount"), "percent")
        target = (self.target.data or "").strip()
        if target and not target.isdecimal():
            raise InvalidInput(_l("choose what the discount applies to"), field="target")
        return int(text), bp, int(target) if target else None


def _percent(text, label: str, field: str) -> int:
    try:
        return parse_percent((text or "").strip() or "0", label)
    except InvalidInput as err:
        raise InvalidInput(err.text, field=field) from None
