"""``kameng bench …``: the performance harness (each area adds its own command)."""
from __future__ import annotations

from flask.cli import AppGroup

bench = AppGroup("bench", help="Benchmarks: run them on the machine you mean to measure.")


def _register() -> None:
    from kameng.api.bench import bench_orders
    from kameng.shop.storefront.bench import bench_storefront

    bench.add_command(bench_orders)
    bench.add_command(bench_storefront)


_register()
