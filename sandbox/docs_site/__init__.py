"""The documentation site's generated parts: pages drawn from the code's own definitions.

``mkdocs.yml`` loads :mod:`sandbox.docs_site.hooks`, which fills the pages' markers at
build time (``<!-- settings-table -->``), so the site cannot drift from the code.
"""

from __future__ import annotations

from sandbox.docs_site.settings_table import settings_table

__all__ = ["settings_table"]
