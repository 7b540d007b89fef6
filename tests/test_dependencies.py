"""The dependency rule of DESIGN.md, checked over every import in the source tree.

``core <- tenants <- shop, billing <- sales <- api, admin <- webapp <- workers``:
a package imports only packages to its left (shop and billing are peers, so are
api and admin). Entry points may import anything. No private name is imported
across modules.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.smoke

# rank of each layer; a module may import a layer of strictly lower rank, or its own
LAYERS = {
    "core": 0,
    "tenants": 1,
    "shop": 2, "billing": 2,
    "sales": 3,
    "api": 4, "admin": 4, "ops": 4,
    "webapp": 5,
    "workers": 6,
}
# top-level modules that assemble the application: they may import anything
ENTRY_POINTS = {"cli", "commands", "demo", "users_cli", "webapp", "benchmarks"}
# workers may import the webapp, but only from the module that starts the process
WORKER_ENTRY_POINTS = {"kameng.workers.runner"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT)
    parts = list(rel.with_suffix("").parts)
    if parts[0] == "platform":
        parts = parts[1:]
    parts = ["kameng", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> list[Path]:
    files = []
    for top in ("platform", "workers"):
        files += sorted(p for p in (ROOT / top).rglob("*.py") if "translations" not in p.parts)
    return files


def imports(source: str, module: str, is_package: bool):
    """Yield (line, imported module, imported name or None) for every import."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield node.lineno, target, alias.name


def layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "kameng" or len(parts) < 2:
        return None
    return parts[1]


def allowed(importer: str, imported: str) -> bool:
    own, their = layer(importer), layer(imported)
    if their is None or own == their or own in ENTRY_POINTS:
        return True
    if own == "workers" and their == "webapp":
        return importer in WORKER_ENTRY_POINTS
    return own in LAYERS and their in LAYERS and LAYERS[their] < LAYERS[own]


def violations(source: str, module: str, where: str, is_package: bool = False) -> list[str]:
    found = []
    for line, target, name in imports(source, module, is_package):
        # "from kameng import api" names the package kameng.api
        imported = f"kameng.{name}" if target == "kameng" and name else target
        problem = None
        if not allowed(module, imported):
            problem = f"{module} imports {imported} ({layer(module)} -> {layer(imported)})"
        elif name and name.startswith("_") and not name.startswith("__") \
                and target.startswith("kameng.") and target != module:
            problem = f"{module} imports the private name {target}.{name}"
        if problem:
            message = f"{where}:{line}: {problem}"
            if message not in found:
                found.append(message)
    return found


def all_violations() -> list[str]:
    found = []
    for path in source_files():
        found += violations(path.read_text(encoding="utf-8"), module_name(path),
                            str(path.relative_to(ROOT)), path.name == "__init__.py")
    return found


def test_every_import_follows_the_dependency_rule():
    found = all_violations()
    assert not found, "imports against the dependency rule:\n" + "\n".join(found)


def test_the_walk_sees_the_whole_tree():
    names = {module_name(p) for p in source_files()}
    assert {"kameng.core.models", "kameng.sales.services", "kameng.workers.jobs"} <= names


@pytest.mark.parametrize("module, source", [
    ("kameng.billing.x", "from kameng.sales.models import Order\n"),
    ("kameng.billing.x", "def f():\n    from kameng.shop import catalog\n"),
    ("kameng.shop.x", "import kameng.billing.ledger\n"),
    ("kameng.admin.x", "from kameng.api.views import helper\n"),
    ("kameng.core.x", "from .. import tenants\n"),
    ("kameng.sales.x", "from kameng import api\n"),
    ("kameng.sales.x", "from kameng.webapp import create_app\n"),
    ("kameng.api.x", "from kameng.workers import jobs\n"),
    ("kameng.sales.a", "from .b import _transition\n"),
    ("kameng.sales.a", "from kameng.billing.ledger import _settle\n"),
])
def test_the_checker_catches_a_violation(module, source):
    assert violations(source, module, "synthetic.py")


@pytest.mark.parametrize("module, source", [
    ("kameng.sales.x", "from kameng.billing import ledger\nfrom kameng.shop.catalog import models\n"),
    ("kameng.api.x", "from ..sales.models import Order\nimport kameng.core.money\n"),
    ("kameng.cli", "from kameng.workers import runner\nfrom kameng.api import views\n"),
    ("kameng.sales.x", "from . import models\nfrom .services import __all__\n"),
])
def test_the_checker_allows_what_the_rule_allows(module, source):
    assert not violations(source, module, "synthetic.py")
