"""Back-office forms for plans. The template writes the inputs by hand; these read
them. The services do the real validation."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.core.money import parse_input_amount
from kameng.core.percent import parse_percent

MAX_MARKUP_CAP_BP = 1000 * 100   # 1000 %, as the markup rules allow


class PayPlanForm(FlaskForm):
    plan = IntegerField(default=0)

    def plan_id(self) -> int:
        return self.plan.data or 0   # missing or not a number: no such plan


class PlanForm(FlaskForm):
    code = StringField(default="")
    name = StringField(default="")
    price = StringField(default="")
    interval = StringField(default="month")
    base_plan = StringField()
    max_markup = StringField()       # a percentage: "20" or "12.5"
    max_staff = StringField()
    # any value ticks the box, as the checkbox sends
    custom_domain = BooleanField(false_values=("",))
    sub_shops = BooleanField(false_values=("",))
    own_gateway = BooleanField(false_values=("",))

    def values(self, currency: str) -> dict:
        """``create_plan`` arguments; bad input raises ``InvalidInput`` naming the field."""
        return {"code": self.code.data, "name": self.name.data,
                "price": parse_input_amount(self.price.data, currency, "price"),
                "interval": self.interval.data,
                "base_plan_id": _optional_whole(self.base_plan),
                "custom_domain": self.custom_domain.data, "sub_shops": self.sub_shops.data,
                "own_gateway": self.own_gateway.data,
                "max_markup_bp": _optional_percent(self.max_markup),
                "max_staff": _optional_whole(self.max_staff)}

    def edit_values(self, currency: str) -> dict:
        """``update_plan`` arguments (the code, interval and base plan never change)."""
        values = self.values(currency)
        for key in ("code", "interval", "base_plan_id"):
            values.pop(key)
        return values


def _optional_percent(field) -> int | None:
    value = (field.data or "").strip()
    if not value:
        return None
    try:
        return parse_percent(value, field.name, maximum_bp=MAX_MARKUP_CAP_BP)
    except InvalidInput:
        raise InvalidInput(_l("Max markup must be a percentage from 0 to 1000, like 20 or "
                              "12.5"), field=field.name) from None


def _optional_whole(field) -> int | None:
    value = (field.data or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise InvalidInput(_l("%(name)s must be a whole number", name=field.name),
                           field=field.name)
    return int(value)
