"""docctl: document control for ISO 9001 clause 7.5 — Markdown in git, signed approvals, search.

Nothing happens at import time; :func:`create_app` builds a Flask app over an instance folder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .version import __version__

__all__ = ["__version__", "create_app"]


def create_app(
    instance_path: str | Path | None = None,
    test_config: dict | None = None,
    clock: Callable[[], datetime] | None = None,
    *,
    background: bool = False,
):
    """Flask application factory (after Flask's tutorial): ``create_app(instance, test_config)``."""
    import os

    from .ops.instance import Instance
    from .web import build_app

    root = Path(instance_path or os.environ.get("DOCCTL_INSTANCE", "instance")).resolve()
    kwargs = {"clock": clock} if clock else {}
    instance = Instance(root, overrides=test_config, **kwargs)
    return build_app(instance, test_config or {}, background=background)
