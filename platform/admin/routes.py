"""The routes of one back-office module, kept until admin's ``init_app`` adds them
to the app's admin blueprint: importing a module changes no other module's state."""
from __future__ import annotations


class Routes:
    def __init__(self):
        self._rules: list[tuple[str, str | None, object, dict]] = []

    def route(self, rule: str, **options):
        """As ``Blueprint.route``."""
        def decorator(view):
            self._rules.append((rule, options.pop("endpoint", None), view, options))
            return view
        return decorator

    def register(self, blueprint) -> None:
        for rule, endpoint, view, options in self._rules:
            blueprint.add_url_rule(rule, endpoint, view, **options)

    def endpoints(self) -> list[str]:
        """The endpoint names ``register`` gives (as ``Blueprint.add_url_rule`` does)."""
        return [endpoint or view.__name__ for _rule, endpoint, view, _options in self._rules]
