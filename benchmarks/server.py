"""The app the benches serve: the product app plus the bare route they compare with.

    python -m kameng.benchmarks.server --port PORT [--host H] [--workers W] [--threads T]

The same gunicorn set-up as ``kameng serve``; the product app itself has no
bench route.
"""
from __future__ import annotations

import argparse

HELLO_PATH = "/_bench/hello"


def create_bench_app():
    from kameng.tenants.resolver import any_host
    from kameng.webapp import create_app

    app = create_app()

    # the baseline of `kameng bench storefront`: a bare route of the same app
    @app.route(HELLO_PATH, endpoint="bench_hello")
    @any_host
    def bench_hello():
        return "hello"

    return app


def main(argv: list[str] | None = None) -> None:
    from kameng.core.gunicorn import serve_gunicorn
    from kameng.core.scoping import ALL, set_scope

    parser = argparse.ArgumentParser(prog="python -m kameng.benchmarks.server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    set_scope(ALL)  # as under `kameng serve`, whose CLI sets it for every command
    serve_gunicorn(create_bench_app, bind=f"{args.host}:{args.port}", workers=args.workers,
                   threads=args.threads)


if __name__ == "__main__":
    main()
