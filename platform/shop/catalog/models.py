"""What is for sale: categories and products, owned by the master shop.

Sub-shops see the master's catalog through their parent; their own view of a
product (hidden, renamed, re-ordered, featured) lives in ``ShopProduct``.
"""
from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from kameng.core.extensions import db
from kameng.core.models import BigId, IdMixin, TenantScoped, TimestampMixin

KINDS = ("card", "topup", "manual")
STATUSES = ("on_sale", "hidden", "sold_out")


class Category(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "categories"

    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))          # zh_CN
    name_en: Mapped[str | None] = mapped_column(String(120))
    icon: Mapped[str | None] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(default=0)

    parent: Mapped[Category | None] = relationship(remote_side="Category.id")


class Product(IdMixin, TimestampMixin, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("kind IN ('card', 'topup', 'manual')", name="kind"),
        CheckConstraint("status IN ('on_sale', 'hidden', 'sold_out')", name="status"),
        CheckConstraint("supplier_cost >= 0 AND wholesale_price >= 0 AND retail_price >= 0",
                        name="prices"),
        CheckConstraint("min_quantity >= 1 AND max_quantity >= min_quantity", name="quantity"),
    )

    sku: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("categories.id"),
                                                    index=True)
    name: Mapped[str] = mapped_column(String(200))          # zh_CN
    name_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="on_sale")
    position: Mapped[int] = mapped_column(default=0)
    # money in the master's currency, integer minor units
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    supplier_cost: Mapped[int] = mapped_column(default=0)     # what the master pays upstream
    wholesale_price: Mapped[int] = mapped_column(default=0)   # master → its direct sub-shops
    retail_price: Mapped[int] = mapped_column(default=0)      # master's own storefront
    min_quantity: Mapped[int] = mapped_column(default=1)
    max_quantity: Mapped[int] = mapped_column(default=100)
    # buyer input: [{"name", "label", "label_en", "type", "regex", "required"}]
    fields: Mapped[list] = mapped_column(JSON, default=list)
    supplier_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("suppliers.id"),
                                                    index=True)
    supplier_sku: Mapped[str | None] = mapped_column(String(128))
    loop_code: Mapped[bool] = mapped_column(default=False)    # one code for every buyer
    low_stock_threshold: Mapped[int] = mapped_column(default=10)
    # kept by the stock service in the same transaction as the codes it counts
    stock_available: Mapped[int] = mapped_column(default=0)

    category: Mapped[Category | None] = relationship()


class ShopProduct(IdMixin, TenantScoped, db.Model):
    """A sub-shop's own presentation of a master product (never its price)."""

    __tablename__ = "shop_products"
    __table_args__ = (UniqueConstraint("tenant_id", "product_id"),)

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"),
                                            index=True)
    hidden: Mapped[bool] = mapped_column(default=False)
    featured: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))
    position: Mapped[int | None]
