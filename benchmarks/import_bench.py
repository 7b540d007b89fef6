"""Stand-alone runner for the card-code import benchmark.

    KAMENG_DATABASE_URL=postgresql://… python benchmarks/import_bench.py [COUNT]

The same as ``kameng bench import --count COUNT``; the harness itself lives in
``kameng.shop.stock.bench`` so the installed ``kameng`` command can run it.
"""
from __future__ import annotations

import sys

from kameng.core.scoping import ALL, set_scope
from kameng.shop.stock.bench import run
from kameng.webapp import create_app


def main(argv: list[str]) -> None:
    count = int(argv[1]) if len(argv) > 1 else 1_000_000
    app = create_app()
    set_scope(ALL)
    with app.app_context():
        run(count)


if __name__ == "__main__":
    main(sys.argv)
