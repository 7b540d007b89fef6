"""Process commands: ``run`` (everything, embedded), ``serve``, ``worker``, ``scheduler``, ``demo``."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", "nworkers", default=2, show_default=True, type=int,
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
@click.option("--dev", is_flag=True, help="Flask's development server with reloader.")
def serve(host, port, nworkers, threads, dev):
    """Serve the web app (gunicorn; --dev for Flask's server)."""
    from kameng.webapp import create_app

    if dev:
        create_app().run(host=host, port=port, debug=True)
        return
    from kameng.core.gunicorn import serve_gunicorn

    serve_gunicorn(create_app, bind=f"{host}:{port}", workers=nworkers, threads=threads)


@click.command("worker")
@click.option("--queue", "queues", multiple=True, help="Queue to listen on (repeatable).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--fork", is_flag=True, help="Fork a work-horse per job (RQ's default Worker).")
@with_appcontext
def worker(queues, burst, fork):
    """Run an RQ worker (SimpleWorker: no fork per job)."""
    from kameng.core.jobs import QUEUES
    from kameng.workers.runner import run_worker

    unknown = set(queues) - set(QUEUES)
    if unknown:
        raise click.BadParameter(f"unknown queue(s): {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(QUEUES)}", param_hint="--queue")
    run_worker(current_app._get_current_object(), queues or QUEUES, burst=burst, fork=fork)


@click.command("scheduler")
@with_appcontext
def scheduler():
    """Enqueue the periodic sweeps (outbox, stuck orders, holds …)."""
    from kameng.workers.schedule import run_scheduler

    run_scheduler(current_app._get_current_object())


demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
@with_appcontext
def demo_seed():
    """Create the demo shops and logins (refused unless the database is empty)."""
    from kameng import demo

    if not demo.is_empty():
        raise click.ClickException("the database already has shops; demo seed needs an empty one")
    _print_logins(demo.seed(), port=None)


def _print_logins(logins: list[dict], port: int | None) -> None:
    """Each shop's URL, back office and logins (``demo.current_logins`` or ``demo.seed``
    rows); a password only where it is still the published demo one."""
    suffix = f":{port}" if port else ""
    click.echo("")
    for row in logins:
        click.echo(f"  {row['name']}  http://{row['host']}{suffix}/")
        owner = row.get("owner")
        owner_pw = row.get("owner_password", row.get("password"))
        click.echo(f"      back office  http://{row['host']}{suffix}/admin/"
                   + (f"  owner {owner}" if owner else "")
                   + (f" / {owner_pw}" if owner and owner_pw else ""))
        if row.get("open_shop"):
            click.echo(f"      open a shop  http://{row['host']}{suffix}/open-shop")
        customer = row.get("customer")
        customer_pw = row.get("customer_password", row.get("password"))
        if customer:
            click.echo(f"      customer     {customer}"
                       + (f" / {customer_pw}" if customer_pw else ""))
        for email, role, password in row.get("staff") or ():
            click.echo(f"      {role:<12} {email}" + (f" / {password}" if password else ""))
    click.echo("")


@click.command("run")
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--demo/--no-demo", "demo_asked", default=None,
              help="Seed the demo shops and logins into an empty database (default: only "
                   "into the embedded default SQLite database, when it is empty).")
@click.option("--verbose", is_flag=True,
              help="Show the workers' and the scheduler's log lines here too (otherwise "
                   "they go to logs/worker.log in the instance folder).")
def run(port, host, demo_asked, verbose):
    """Migrate, seed the demo into an empty embedded default database, and run web +
    worker + scheduler together; print the shops and logins on every start."""
    from kameng.core.config import instance_path_from_env
    from kameng.core.redis import start_embedded

    env = dict(os.environ)
    embedded = None
    if not env.get("KAMENG_REDIS_URL"):
        embedded = start_embedded(instance_path_from_env())
        env["KAMENG_REDIS_URL"] = "unix://" + embedded.socket_file
        os.environ["KAMENG_REDIS_URL"] = env["KAMENG_REDIS_URL"]

    from flask_migrate import upgrade

    from kameng import demo
    from kameng.core.scoping import ALL, set_scope
    from kameng.webapp import create_app

    app = create_app()
    with app.app_context():
        set_scope(ALL)
        upgrade(directory=app.extensions["migrate"].directory)
        try:
            seed, seeding = demo.run_seeding(app.config, asked=demo_asked,
                                             empty=demo.is_empty())
        except ValueError as err:
            if embedded is not None:
                embedded.shutdown()
            raise click.ClickException(str(err)) from None
        if seed:
            demo.seed()
        logins = demo.current_logins()
    click.echo(f"kameng: database {app.config['SQLALCHEMY_DATABASE_URI']}")
    click.echo(f"kameng: redis {env['KAMENG_REDIS_URL']}")

    from kameng.core.jobs import QUEUES

    base = [sys.executable, "-m", "kameng.cli"]
    # the 补单 gateway calls get a worker of their own: none of them holds up fulfilment
    main_queues = [arg for q in QUEUES if q != "reconcile" for arg in ("--queue", q)]
    # the workers' per-job lines go to a file unless --verbose: the terminal keeps the
    # banner, the web server's lines and errors
    log_path = os.path.abspath(os.path.join(instance_path_from_env(), "logs", "worker.log"))
    background = None
    if not verbose:
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        background = open(log_path, "a", buffering=1)  # noqa: SIM115 (closed on stop)
    quiet = {"stdout": background, "stderr": subprocess.STDOUT} if background else {}
    children = [
        subprocess.Popen(base + ["serve", "--host", host, "--port", str(port)], env=env),
        subprocess.Popen(base + ["worker", *main_queues], env=env, **quiet),
        subprocess.Popen(base + ["worker", "--queue", "reconcile"], env=env, **quiet),
        subprocess.Popen(base + ["scheduler"], env=env, **quiet),
    ]
    click.echo(f"kameng: {seeding}")
    if logins:
        click.echo("kameng: shops and logins:")
        _print_logins(logins, port)
    else:
        click.echo("kameng: no shops yet (create the master with `kameng tenants create`)")
    if background:
        click.echo(f"kameng: worker and scheduler log: {log_path} (--verbose shows it here)")
    else:
        click.echo("kameng: worker and scheduler log: this terminal (--verbose)")
    click.echo("kameng: web + worker + scheduler running; Ctrl-C stops everything.")

    stopping = []

    def _stop(*_):
        stopping.append(True)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping:
            if any(c.poll() is not None for c in children):
                click.echo("kameng: a process exited; stopping the rest", err=True)
                break
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded is not None:
            embedded.shutdown()
        if background:
            background.close()
        click.echo("kameng: stopped.")


COMMANDS = [run, serve, worker, scheduler, demo_cli]
