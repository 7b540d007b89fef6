"""``kameng bench …``: the command group the ``kameng`` CLI adds."""
from __future__ import annotations

from flask.cli import AppGroup

from kameng.benchmarks.orders import bench_orders
from kameng.benchmarks.scale import bench_scale
from kameng.benchmarks.stock_import import bench_import
from kameng.benchmarks.storefront import bench_storefront

bench = AppGroup("bench", help="Benchmarks: run them on the machine you mean to measure.")
bench.add_command(bench_import)
bench.add_command(bench_orders)
bench.add_command(bench_storefront)
bench.add_command(bench_scale)
