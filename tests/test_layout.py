"""The layout promises of DESIGN.md: ``platform/`` never shadows the standard library."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.smoke


def test_stdlib_platform_is_not_shadowed_from_the_repository_root():
    out = subprocess.run([sys.executable, "-c", "import platform; print(platform.system())"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip()
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_importing_the_app_opens_no_connection():
    # importing every module must not touch a database or Redis (nothing is running
    # at these addresses)
    code = ("import os; os.environ['KAMENG_DATABASE_URL']='postgresql://nobody@127.0.0.1:1/x';"
            "os.environ['KAMENG_REDIS_URL']='redis://127.0.0.1:1/0';"
            "import kameng.webapp, kameng.cli, kameng.workers.jobs, kameng.workers.runner;"
            "app = kameng.webapp.create_app({'INSTANCE_PATH': os.environ['TMP_INSTANCE']});"
            "print('ok')")
    import os
    import tempfile

    env = {**os.environ, "TMP_INSTANCE": tempfile.mkdtemp()}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
