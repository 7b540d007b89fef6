"""The pictures of a shop's appearance (装修: logo, banner), uploaded in the theme studio.

They pass the product images' checks (``shop.catalog.images``: the content must open
as a JPEG, PNG, WebP or GIF within the size and pixel limits, and is re-encoded as
WebP without metadata) and are stored in the shop's own media folder, served by
``/media/`` on its hosts. A refusal names the form field it came from.
"""
from __future__ import annotations

from kameng.core.errors import InvalidInput
from kameng.shop.catalog.images import remove_image, store_image
from kameng.shop.pricing.services import price_list
from kameng.shop.storefront.queries import list_items


def store_brand_image(upload, tenant_id: int, field: str) -> str:
    """Check, re-encode and store one uploaded picture; its ``/media/`` URL."""
    try:
        return store_image(upload, tenant_id)
    except InvalidInput as err:
        raise InvalidInput(err.message, field=field) from None


def forget_brand_images(urls, tenant_id: int) -> None:
    """Delete pictures stored for a form that was then refused: nothing left behind."""
    for url in urls:
        remove_image(url, tenant_id)


def featured_choices(tenant, locale: str):
    """The products the shop lists, as its storefront shows them (what may be featured)."""
    return list_items(tenant, price_list(tenant), locale)
