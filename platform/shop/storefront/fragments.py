"""Per-process caches of what storefront pages are made of, for every visitor.

The 5-second page cache (``pagecache``) serves only anonymous visitors without a
session. Everybody else — a signed-in buyer, an agent, a visitor who has put
something in a form — used to cost the category tree, the product list and the
rendering of every product card on each request. Here those parts are kept per
process, for every visitor:

- **data** (``cached``): the category tree, a page's product list with its
  formatted prices, a product page's snapshot;
- **rendered blocks** (``render``): a list page's ``content`` block (the product
  grid), the ``category_nav``, ``sidebar`` and ``footer`` blocks, and the
  ``header`` block of a visitor who is not signed in, as the template rendered
  them (autoescaped), pasted back into the page by replacing the block's render
  function — the rest (a signed-in buyer's header with their name and log-out
  form, flashed messages, the product page's buy form with its CSRF token) is
  rendered per request as before.

A key always starts with the shop's id and holds every version the fragment
depends on: the shop's price-table version (which changes with any price, markup,
tier or discount on its chain: ``shop.pricing.cache``), the storefront's catalog
generation (``SHOWN_GEN`` of ``shop.pricing.cache``, read in the same round trip
as the price versions, bumped after a commit that changes what a page
shows of a product, a category or a shop's presentation: ``events``), the
tenants' generation (the shop's name, settings, theme), its published appearance,
the language, the buyer's tier discount (prices at a tier are the same for every
buyer of that tier; nothing of one buyer's own is ever put in a fragment) and
the page's path and query. So a change of price, catalog or theme shows at once;
only stock states (in stock / low / sold out, and counts) may lag by at most
``FRAGMENT_CACHE_SECONDS`` — stock moves with every sale and is not worth a
version; checkout always checks real stock. ``0`` turns the fragments off.

An owner previewing a draft of the appearance is never served from, nor stored
into, these caches. Without Redis (no versions) nothing is cached.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import current_app, g, has_app_context
from flask.signals import before_render_template, template_rendered

from kameng.tenants.appearance import live_number
from kameng.tenants.hostcache import generation
from kameng.tenants.i18n import current_locale
from kameng.tenants.themes import current_theme

DEFAULT_SECONDS = 5
MAX_ENTRIES = 1024
_MISSING = object()
_lock = threading.Lock()


def _store() -> OrderedDict:
    return current_app.extensions.setdefault("kameng.fragments", OrderedDict())


def _ttl() -> int:
    return int(current_app.config.get("FRAGMENT_CACHE_SECONDS", DEFAULT_SECONDS) or 0)


def bump() -> None:
    """Forget every shop's catalog fragments (after a commit that changed the catalog)."""
    if not has_app_context():
        return
    from kameng.shop.pricing.cache import bump_shown

    try:
        bump_shown()
    except Exception:
        pass  # the fragments' lifetime still bounds staleness


def base_key(tier_bp: int = 0) -> tuple | None:
    """What every fragment of this request's shop depends on, or None: do not cache
    (fragments off, an appearance preview, Redis unavailable)."""
    if _ttl() <= 0 or g.get("appearance_preview") is not None:
        return None
    tenant_gen = generation()
    if tenant_gen is None:
        return None
    from kameng.shop.pricing.cache import shown_generation, table_for

    tenant = g.tenant
    # the price versions first: the catalog's shown counter comes in their round trip
    version = table_for(tenant).version
    return (tenant.id, version, shown_generation(), tenant_gen, live_number(tenant),
            current_theme(), current_locale(), int(tier_bp))


def cached(key: tuple | None, make):
    """``make()``, or its value kept under ``key`` (None: not cached)."""
    if key is None:
        return make()
    now = time.monotonic()
    store = _store()
    with _lock:
        hit = store.get(key, _MISSING)
    if hit is not _MISSING and hit[0] > now:
        return hit[1]
    value = make()
    _put(store, key, value, now)
    return value


def _put(store: OrderedDict, key: tuple, value, now: float) -> None:
    with _lock:
        store[key] = (now + _ttl(), value)
        store.move_to_end(key)
        while len(store) > MAX_ENTRIES:
            store.popitem(last=False)


def render(name: str, block_keys: dict[str, tuple | None], **context) -> str:
    """Render the theme's template ``name`` like ``themes.render``, with each block
    named in ``block_keys`` kept rendered under its key (None: rendered as usual).

    The block is rendered by its template, autoescaped as ever, inside the page's
    own render the first time; later renders of the page yield that text instead
    of running the block. Templates need no change, and nothing is marked safe.
    """
    app = current_app._get_current_object()
    template = app.jinja_env.get_or_select_template(f"@{current_theme()}/{name}")
    app.update_template_context(context)
    before_render_template.send(app, _async_wrapper=app.ensure_sync, template=template,
                                context=context)
    ctx = template.new_context(context)
    wanted = {block: ("block", name, block, *key) for block, key in block_keys.items()
              if key is not None}
    if wanted:
        ctx.blocks = _KeptBlocks(ctx.blocks, wanted, _store())
    try:
        html = template.environment.concat(template.root_render_func(ctx))
    except Exception:
        template.environment.handle_exception()
    template_rendered.send(app, _async_wrapper=app.ensure_sync, template=template,
                           context=context)
    return html


class _KeptBlocks(dict):
    """A render context's blocks, whose wanted ones are kept rendered. The parents'
    blocks join the map while the page renders (a child template adds them before
    its parent runs), so a block is wrapped when it is first called, not before."""

    def __init__(self, blocks: dict, wanted: dict[str, tuple], store: OrderedDict):
        super().__init__(blocks)
        self.wanted, self.store = wanted, store

    def __getitem__(self, name):
        chain = super().__getitem__(name)
        key = self.wanted.pop(name, None)
        if key is not None and chain:
            chain[0] = _kept_block(chain[0], self.store, key)
        return chain


def _kept_block(render_block, store: OrderedDict, key: tuple):
    def block(context):
        now = time.monotonic()
        with _lock:
            hit = store.get(key)
        if hit is not None and hit[0] > now:
            yield hit[1]
            return
        text = "".join(render_block(context))
        _put(store, key, text, now)
        yield text
    return block
