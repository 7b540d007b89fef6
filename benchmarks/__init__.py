"""The performance harnesses behind ``kameng bench …`` (installed as ``kameng.benchmarks``).

Nothing in the product imports this package: the bench builds its own app,
databases and servers, and leaves PostgreSQL and Redis as it found them.
"""
