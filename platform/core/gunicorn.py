"""Running the app under gunicorn from our own command."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication


class _App(BaseApplication):
    def __init__(self, factory, options: dict):
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def serve_gunicorn(factory, bind: str, workers: int = 2, threads: int = 4, **extra) -> None:
    options = {"bind": bind, "workers": workers, "threads": threads,
               "worker_class": "gthread" if threads > 1 else "sync",
               "accesslog": None, "graceful_timeout": 10, **extra}
    _App(factory, options).run()
