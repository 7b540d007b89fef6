"""The storefront, rendered through the tenant's theme."""
from __future__ import annotations

import re

from flask import Blueprint, abort, g, request, session, url_for
from flask_login import current_user

from kameng.core.errors import NotFound
from kameng.core.labels import PRODUCT_KIND, STOCK
from kameng.shop.storefront import fragments, queries
from kameng.shop.storefront.pagecache import cached_page
from kameng.tenants.appearance import version_for_preview
from kameng.tenants.i18n import current_locale
from kameng.tenants.themes import render, shown_settings

bp = Blueprint("shop", __name__)


REF_RE = re.compile(r"^[A-Za-z0-9]{4,16}$")


@bp.before_request
def remember_referral():
    # a promoter's link (?ref=CODE): kept until the visitor signs up on this shop
    ref = request.args.get("ref")
    if ref and REF_RE.match(ref):
        session["ref"] = ref


@bp.before_request
def closed_when_suspended():
    # a suspended or pending shop keeps its host but sells nothing until (re)opened
    if not g.tenant.serves_buyers:
        return render("closed.html"), 503
    return None


@bp.before_request
def owner_preview():
    # ?preview=<version id>: the shop's owner sees the storefront with a draft of its
    # appearance; anyone else (buyers, staff, another shop's owner) sees the live shop
    wanted = request.args.get("preview")
    if not wanted or not (current_user.is_authenticated and current_user.role == "owner"
                          and current_user.tenant_id == g.tenant.id):
        return None
    version = version_for_preview(g.tenant, wanted)
    if version is None:
        abort(404)
    g.appearance_preview = version
    return None


@bp.after_request
def preview_is_private(response):
    if g.get("appearance_preview") is not None:
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["X-Robots-Tag"] = "noindex"
    return response


def _locale() -> str:
    return current_locale()


def _customer():
    if current_user.is_authenticated and current_user.tenant_id == g.tenant.id:
        return current_user._get_current_object()
    return None


def _tier_bp(customer) -> int:
    """The buyer's member discount: prices at a tier are shared by every buyer of it."""
    if customer is None:
        return 0
    from kameng.shop.pricing.services import tier_discount_bp

    return tier_discount_bp(g.tenant, customer)


def _prices(customer) -> dict[int, int]:
    # imported here: the pricing engine is a sibling package loaded on first use
    from kameng.shop.pricing.services import price_list

    return price_list(g.tenant, customer)


def _show_stock_count() -> bool:
    tenant = g.tenant
    return bool((tenant.settings or {}).get("show_stock_count")
                or shown_settings().get("show_stock_count"))


def _items(customer, **kwargs) -> list[queries.Item]:
    prefix = url_for("shop.product", sku="-")[:-1]  # "/p/": built once, not per product
    return queries.list_items(g.tenant, _prices(customer), _locale(), url_prefix=prefix,
                              **kwargs)


def _labels() -> dict:
    """Kind and stock-state labels, translated once per page rather than once per card."""
    return {"kind": {k: str(v) for k, v in PRODUCT_KIND.items()},
            "stock": {k: str(v) for k, v in STOCK.items()}}


class _Page:
    """One request's view of the shop: its fragment key (None: nothing cached) and the
    parts every page needs, each kept per shop and versions (``fragments``)."""

    def __init__(self):
        self.customer = _customer()
        self.tier_bp = _tier_bp(self.customer)
        self.key = fragments.base_key(self.tier_bp)
        self.locale = _locale()
        self._common: dict | None = None

    def part(self, name: str, make, *args):
        key = None if self.key is None else (*self.key, name, *args)
        return fragments.cached(key, make)

    def common(self) -> dict:
        # the tree has no prices: one per shop and versions, whatever the tier. Kept on
        # the page too: a view asks for it, then render does (twice the category tree's
        # query when nothing is cached: fragments off, a preview, no Redis)
        if self._common is None:
            self._common = self.part("common", lambda: {
                "tree": queries.category_tree(self.locale),
                "show_stock_count": _show_stock_count(), "labels": _labels()})
        return self._common

    def render(self, template: str, *, cache_content: bool = False, **context):
        common = self.common()
        keys: dict[str, tuple | None] = {}
        if self.key is not None:
            # the category navigation differs only by page kind and current category
            nav = (*self.key, request.endpoint, context.get("current_category_id"))
            keys = {"category_nav": nav, "sidebar": nav, "footer": self.key}
            if not current_user.is_authenticated:
                # a signed-in buyer's header names them and holds their log-out form's
                # CSRF token: only the header of visitors not signed in is kept
                keys["header"] = (*self.key, "visitor", request.full_path)
            if cache_content:
                keys["content"] = (*self.key, request.full_path)
        return fragments.render(template, keys,
                                categories=common["tree"].roots,
                                show_stock_count=common["show_stock_count"],
                                labels=common["labels"], **context)


@bp.route("/")
@cached_page
def index():
    page = _Page()
    tree = page.common()["tree"]
    context = page.part("index", lambda: _index_context(page, tree))
    return page.render("index.html", cache_content=True, **context)


def _index_context(page: _Page, tree: queries.CategoryTree) -> dict:
    items = _items(page.customer)
    # group by top-level category, in the shop's category order
    top_of = {}
    for root in tree.roots:
        for cid in tree.descendants(root.id):
            top_of[cid] = root.id
    groups: dict[int | None, list] = {root.id: [] for root in tree.roots}
    groups[None] = []
    for item in items:
        groups[top_of.get(item.category_id)].append(item)
    sections = [(root, groups[root.id]) for root in tree.roots if groups[root.id]]
    return {"items": items, "sections": sections, "uncategorised": groups[None],
            "featured": _featured(items)}


def _featured(items: list[queries.Item]) -> list[queries.Item]:
    """The studio's featured products in the owner's order (those this shop lists),
    then the products marked featured in the catalog."""
    picked = shown_settings().get("featured_products") or []
    by_id = {item.id: item for item in items}
    chosen = [by_id[pid] for pid in picked if isinstance(pid, int) and pid in by_id]
    seen = {item.id for item in chosen}
    return chosen + [item for item in items if item.featured and item.id not in seen]


@bp.route("/c/<int:category_id>")
@cached_page
def category(category_id: int):
    page = _Page()
    tree = page.common()["tree"]
    if category_id not in tree.by_id:
        abort(404)
    items = page.part("category", lambda: _items(
        page.customer, category_ids=tree.descendants(category_id)), category_id)
    return page.render("category.html", cache_content=True, category=tree.by_id[category_id],
                       trail=tree.trail(category_id), items=items,
                       current_category_id=category_id)


@bp.route("/search")
@cached_page
def search():
    page = _Page()
    q = (request.args.get("q") or "").strip()[:100]
    items = page.part("search", lambda: _items(page.customer, search=q,
                                                limit=queries.SEARCH_LIMIT), q) if q else []
    return page.render("search.html", cache_content=True, q=q, items=items)


@bp.route("/p/<sku>")
def product(sku: str):
    from kameng.shop.pricing.services import price_for, product_discounts

    page = _Page()
    shown = page.part("product", lambda: queries.product_snapshot(g.tenant, sku, page.locale),
                      sku)
    if shown is None:
        abort(404)
    product = shown.product
    try:
        price = price_for(g.tenant, product.id, customer=page.customer, quantity=1)
    except NotFound:
        abort(404)  # this shop does not sell it
    if price is None:
        abort(404)
    tree = page.common()["tree"]
    trail = tree.trail(product.category_id) if product.category_id else []
    # the buy form carries the visitor's CSRF token: the content block is not kept
    return page.render("product.html", page=shown, product=product, price=price,
                       discounts=product_discounts(g.tenant, product.id, page.customer),
                       trail=trail, current_category_id=product.category_id)
