"""Stand-alone runner for the API orders benchmark.

    KAMENG_DATABASE_URL=postgresql://… KAMENG_REDIS_URL=redis://…/15 \\
        python benchmarks/orders_bench.py [ORDERS] [CONCURRENCY] [WORKERS]

The same as ``kameng bench orders --orders ORDERS --concurrency C --workers W``;
the harness lives in ``kameng.api.bench`` so the installed ``kameng`` command
can run it. It creates (and drops) a database of its own on that PostgreSQL
server and refuses a Redis whose queues are in use.
"""
from __future__ import annotations

import os
import sys

from kameng.api.bench import run


def main(argv: list[str]) -> None:
    orders = int(argv[1]) if len(argv) > 1 else 2000
    concurrency = int(argv[2]) if len(argv) > 2 else 32
    workers = int(argv[3]) if len(argv) > 3 else 2
    run(os.environ.get("KAMENG_DATABASE_URL", ""), os.environ.get("KAMENG_REDIS_URL", ""),
        orders=orders, concurrency=concurrency, workers=workers)


if __name__ == "__main__":
    main(sys.argv)
