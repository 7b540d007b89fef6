"""``kameng stock …``: import, void, export and report card-code stock."""
from __future__ import annotations

import json
import os
import sys

import click
from flask.cli import AppGroup

from kameng.core.errors import InvalidInput
from kameng.core.i18n import lazy_gettext as _l
from kameng.shop.stock import services

stock_cli = AppGroup("stock", help="Card-code stock: import, void, export, report.")

CLI_ACTOR = "cli"


@stock_cli.command("import")
@click.option("--product", "sku", required=True, help="SKU of a card product.")
@click.option("--separator", help="Split 'code<S>password' pairs on S ('tab' for a tab); "
                                  "omit for one code per line.")
@click.option("--note", "cost_note", default="", help="Cost note kept with the batch.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def import_cmd(sku, separator, cost_note, file):
    """Import codes from FILE (.txt or .csv). Prints 'imported N, duplicates D'."""
    product = services.card_product(sku)
    bar = click.progressbar(length=1, label="importing", file=sys.stderr,
                            show_eta=True, show_percent=True)
    state = {"shown": 0}

    def progress(done: int, total: int) -> None:
        bar.length = total
        bar.update(done - state["shown"])
        state["shown"] = done

    with bar:
        result = services.import_codes(product, path=file, separator=separator,
                                       actor=CLI_ACTOR, cost_note=cost_note,
                                       progress=progress)
    if result.duplicate_lines:
        more = " …" if result.duplicates > len(result.duplicate_lines) else ""
        click.echo(f"duplicate lines: {', '.join(map(str, result.duplicate_lines))}{more} "
                   f"({result.duplicates_in_file} within the file, "
                   f"{result.duplicates_in_stock} already in stock)", err=True)
    click.echo(result.summary())


@stock_cli.command("void")
@click.option("--code-id", type=int, help="Void one code by id.")
@click.option("--batch", "batch_id", type=int, help="Void every available code of a batch.")
def void_cmd(code_id, batch_id):
    """Void a code or the unsold codes of a batch."""
    if (code_id is None) == (batch_id is None):
        raise InvalidInput(_l("give exactly one of --code-id or --batch"))
    if code_id is not None:
        services.void_code(code_id, actor=CLI_ACTOR)
        click.echo(f"voided code {code_id}")
    else:
        n = services.void_batch(batch_id, actor=CLI_ACTOR)
        click.echo(f"voided {n} code(s) of batch {batch_id}")


@stock_cli.command("export")
@click.option("--product", "sku", required=True, help="SKU of a card product.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="File to write (created with mode 600; must not exist).")
@click.option("--batch", "batch_id", type=int, help="Only this batch.")
def export_cmd(sku, out_path, batch_id):
    """Write the product's unsold codes to a file, one per line (audited)."""
    product = services.card_product(sku)
    try:
        fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(_l("%(out_path)s already exists; choose a new file",
                              out_path=out_path)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            n = services.export_codes(product, out, actor=CLI_ACTOR, batch_id=batch_id)
    except BaseException:
        services.remove_file_quietly(out_path)
        raise
    click.echo(f"exported {n} code(s) to {out_path}")


@stock_cli.command("report")
@click.option("--low", is_flag=True, help="Only products at or below their threshold.")
@click.option("--json", "as_json", is_flag=True)
def report_cmd(low, as_json):
    """Stock per card product, with days left at the last 14 days' sales rate."""
    rows = [{k: v for k, v in r.items() if k != "product"}
            for r in services.stock_report(only_low=low)]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        left = "∞" if r["loop"] and r["available"] else (
            "-" if r["days_left"] is None else str(r["days_left"]))
        flag = " LOW" if r["low"] else ""
        click.echo(f"{r['sku']:<20} available {r['available']:<8} sold/14d {r['sold_14d']:<6} "
                   f"days left {left}{flag}")


@stock_cli.command("rekey")
def rekey_cmd():
    """Re-encrypt codes made under older keys with the first key of CODE_KEYS."""
    click.echo(f"re-encrypted {services.rekey_codes()} code(s)")
