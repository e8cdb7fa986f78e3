"""The documentation site's generated parts: pages drawn from the code's own definitions.

``mkdocs.yml`` loads :mod:`sandbox.docs_site.hooks`, which fills the pages' markers at
build time (the settings table, the pipeline DAG, the state machines, the lineage), so
the site cannot drift from the code.
"""

from __future__ import annotations

from sandbox.docs_site.graphs import lineage_svg, pipeline_svg, state_machine_svg
from sandbox.docs_site.settings_doc import settings_table

__all__ = ["lineage_svg", "pipeline_svg", "settings_table", "state_machine_svg"]
