"""What each shop adds on top of its cost: markup rules, caps, customer tiers, quantity discounts.

Percentages are stored as integer basis points (1250 = 12.50 %); fixed amounts
in the minor unit of the catalog's currency. No floats.
"""
from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin, one_of

LEVELS = ("shop", "category", "product")
KINDS = ("percent", "fixed")
ROUNDINGS = ("fen", "jiao", "yuan", "x9")

Amount = BigId  # money may exceed 2**31 minor units


class MarkupRule(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """How one shop prices a product, a category or everything it sells.

    ``wholesale`` rules set the shop's price to its own sub-shops; the others
    its retail price. The most specific rule wins: product > category
    (nearest first, walking up the category tree) > shop.
    """

    __tablename__ = "markup_rules"
    __table_args__ = (
        # target_id is product_id, category_id or 0 (shop level): one rule per target
        UniqueConstraint("tenant_id", "wholesale", "level", "target_id"),
        CheckConstraint(one_of("level", LEVELS), name="level"),
        CheckConstraint(one_of("kind", KINDS), name="kind"),
        CheckConstraint(one_of("rounding", ROUNDINGS), name="rounding"),
        CheckConstraint("value >= 0", name="value"),
        CheckConstraint(
            "(level = 'shop' AND category_id IS NULL AND product_id IS NULL)"
            " OR (level = 'category' AND category_id IS NOT NULL AND product_id IS NULL)"
            " OR (level = 'product' AND product_id IS NOT NULL AND category_id IS NULL)",
            name="target"),
    )

    level: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(BigId, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    # percent: basis points; fixed: minor units
    value: Mapped[int] = mapped_column(Amount)
    wholesale: Mapped[bool] = mapped_column(default=False)
    rounding: Mapped[str] = mapped_column(String(8), default="fen")

    def plan_limit(self) -> tuple | None:
        """The plan feature this rule needs, for billing's plan guard (which asks
        every row it sees, so it needs no import of shop models).

        A percent rule needs its own value; a fixed one the share of cost it adds
        to the cheapest product it covers (rounded up), with the words that say so.
        """
        if self.kind == "percent":
            return ("markup", self.value)
        from kameng.shop.pricing.services import fixed_markup_share

        return fixed_markup_share(self)


class ShopPricing(IdMixin, TenantScoped, db.Model):
    """One shop's pricing settings: the cap it puts on its direct sub-shops' markup."""

    __tablename__ = "shop_pricing"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("child_max_markup_bp IS NULL OR child_max_markup_bp >= 0",
                        name="cap"),
    )

    # basis points of the child's cost; NULL = no cap
    child_max_markup_bp: Mapped[int | None]


class CustomerTier(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """A member level (普通 / VIP / SVIP) reached by total spend in this shop."""

    __tablename__ = "customer_tiers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount"),
        CheckConstraint("min_spend >= 0", name="min_spend"),
    )

    name: Mapped[str] = mapped_column(String(60))
    discount_bp: Mapped[int] = mapped_column(default=0)
    min_spend: Mapped[int] = mapped_column(Amount, default=0)


class CustomerSpend(IdMixin, TenantScoped, db.Model):
    """A customer's total spend in one shop (kept by ``record_spend``)."""

    __tablename__ = "customer_spend"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        CheckConstraint("total >= 0", name="total"),
    )

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    total: Mapped[int] = mapped_column(Amount, default=0)


class QuantityDiscount(IdMixin, TimestampMixin, TenantScoped, db.Model):
    """批发价: from ``min_quantity`` units, ``discount_bp`` off (one product, or every product)."""

    __tablename__ = "quantity_discounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "target_id", "min_quantity"),
        CheckConstraint("discount_bp >= 0 AND discount_bp <= 10000", name="discount"),
        CheckConstraint("min_quantity >= 1", name="min_quantity"),
    )

    product_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    target_id: Mapped[int] = mapped_column(BigId, default=0)  # product_id or 0 (every product)
    min_quantity: Mapped[int]
    discount_bp: Mapped[int]

