"""``kameng keys …``, ``kameng backup``, ``kameng restore``, ``kameng doctor``."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup, with_appcontext

keys_cli = AppGroup("keys", help="The code key ring: rotate, re-encrypt, retire.")


@keys_cli.command("rotate")
@click.option("--no-reencrypt", is_flag=True,
              help="Only add the key and make it the encrypting one; move the rows later "
                   "with `kameng keys reencrypt`.")
@click.option("--settle", "settle", type=float, default=None,
              help="Seconds the job waits for every process to re-read the ring "
                   "(default 6).")
def rotate_cmd(no_reencrypt, settle):
    """Add a new code key, make it the encrypting key, re-encrypt every stored code and
    secret under it in the background (an RQ job on the imports queue)."""
    from kameng.ops import keys

    kw = {} if settle is None else {"settle_seconds": settle}
    kid, rotation = keys.rotate(reencrypt=not no_reencrypt, **kw)
    click.echo(f"new encrypting key {kid}; rotation {rotation.id} "
               + ("recorded (run `kameng keys reencrypt` to move the rows)" if no_reencrypt
                  else "enqueued on the imports queue (`kameng keys status` shows progress)"))


@keys_cli.command("reencrypt")
def reencrypt_cmd():
    """Resume (or start) re-encrypting rows under older keys with the encrypting key."""
    from kameng.ops import keys

    rotation = keys.reencrypt()
    click.echo(f"rotation {rotation.id} to key {rotation.key_id} enqueued")


@keys_cli.command("status")
@click.option("--count", is_flag=True,
              help="Also count, per key, the rows that use it. Reads the key id of every "
                   "stored code (a pass over the key-id indexes of card_codes and "
                   "order_lines): slow at millions of codes. Without it the keys in use "
                   "are listed, which takes a few index probes.")
def status_cmd(count):
    """The ring's keys and the progress of the latest rotations."""
    from kameng.core import crypto
    from kameng.ops import keys, rotation

    ring = crypto.reload_now()
    for kid, _ in keys.entries():
        flags = ["encrypts" if kid == ring.primary_id else "decrypts"]
        if keys.in_environment(kid):
            flags.append("from KAMENG_CODE_KEYS")
        click.echo(f"key {kid}: {', '.join(flags)}")
    for row in rotation.status_rows():
        click.echo(f"rotation {row.id} to {row.key_id}: {row.status}, pass {row.passes + 1}"
                   + (f", {row.remaining} row(s) left after the last pass"
                      if row.remaining else "")
                   + (f" — {row.error}" if row.error else ""))
        for name, p in (row.progress or {}).items():
            done = "complete" if p.get("complete") else f"at id {p.get('last_id', 0)}"
            click.echo(f"    {name}: {p.get('moved', 0)} moved, {done} of "
                       f"{p.get('max_id', 0)}")
    if count:
        started = time.perf_counter()
        counted = rotation.key_ids_in_use()
        for kid, n in sorted(counted.items()):
            click.echo(f"rows under {kid}: {n}")
        click.echo(f"counted every stored code and secret in "
                   f"{time.perf_counter() - started:.2f} s")
    else:
        used = sorted(rotation.keys_in_use())
        click.echo(f"keys rows use: {', '.join(used) or 'none'} "
                   "(`--count` counts the rows per key, reading every one)")


@keys_cli.command("retire")
@click.argument("kid")
def retire_cmd(kid):
    """Remove key KID from the ring (refused while any row still uses it)."""
    from kameng.ops import keys

    result = keys.retire(kid)
    click.echo(f"retired {kid}; {result['kept']} key(s) left in the ring file")
    if keys.in_environment(kid):
        click.echo(f"{kid} is still in KAMENG_CODE_KEYS: remove it there too", err=True)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_cmd(path):
    """Write a backup (database, key ring, instance files, media) to the new file PATH."""
    from kameng.ops import backup

    manifest = backup.backup(path)
    click.echo(f"backup written to {path}: {manifest['backend']} database at revision "
               f"{manifest['revision']}, keys {', '.join(manifest['keys'])}, "
               f"{', '.join(manifest['files'])}")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def restore_cmd(path):
    """Restore the backup PATH into this (empty) database and instance folder."""
    from kameng.ops import backup

    manifest = backup.restore(path)
    click.echo(f"restored {manifest['backend']} database at revision {manifest['revision']} "
               f"from {path}; run `kameng db upgrade` if this release is newer, then "
               f"`kameng ledger check`")


@click.command("doctor")
@click.option("--stuck-minutes", type=int, default=15, show_default=True,
              help="An order paid this long ago and not delivered is stuck.")
@click.option("--max-queue", type=int, default=1000, show_default=True,
              help="A queue deeper than this is a problem.")
@with_appcontext
def doctor_cmd(stuck_minutes, max_queue):
    """Check configuration, database, Redis, key ring, workers, queues and stuck orders;
    print what to fix; exit non-zero when something is wrong."""
    from kameng.ops import doctor

    findings = doctor.run(stuck_minutes=stuck_minutes, max_queue=max_queue)
    for f in findings:
        click.echo(f"{'ok  ' if f.ok else 'FAIL'} {f.name}: {f.detail}")
        if not f.ok and f.fix:
            click.echo(f"     fix: {f.fix}")
    bad = [f for f in findings if not f.ok]
    if bad:
        raise click.ClickException(f"{len(bad)} problem(s) found")
    click.echo("all checks passed")


COMMANDS = [keys_cli, backup_cmd, restore_cmd, doctor_cmd]
