"""shop's part of the app: the storefront, price-cache invalidation, the catalog commands."""
from __future__ import annotations


def init_app(app) -> None:
    from kameng.shop.catalog.images import thumb_url
    from kameng.shop.pricing import events
    from kameng.shop.storefront import events as storefront_events
    from kameng.shop.storefront.media import bp as media_bp
    from kameng.shop.storefront.views import bp

    events.install()
    storefront_events.install()
    app.register_blueprint(bp)
    app.register_blueprint(media_bp)
    app.add_template_filter(thumb_url, "thumb_url")


def register_cli(group) -> None:
    from kameng.shop.catalog.cli import products_cli
    from kameng.shop.pricing.cli import COMMANDS as pricing_commands
    from kameng.shop.stock.cli import stock_cli
    from kameng.shop.suppliers.cli import suppliers_cli

    for command in (*pricing_commands, products_cli, stock_cli, suppliers_cli):
        group.add_command(command)
