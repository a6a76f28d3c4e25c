"""Where shipped files live: inside the package when installed, at the checkout's top level in development.

setup.cfg maps the top-level ``templates/``, ``static/`` and ``docs_repo/`` folders into the
package (``docctl.templates`` …), so a plain ``pip install .`` carries them.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name
