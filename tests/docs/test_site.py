"""The documentation site builds strictly, offline, with its generated pages (issue #32).

``just docs-build`` is ``mkdocs build --strict``: a broken link, a missing anchor or a
page left out of the nav fails it. A copy of ``docs/`` with one broken link must fail
too, so the check itself can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox.platform.settings import PROJECT_ROOT, Settings

MKDOCS = Path(sys.executable).parent / "mkdocs"


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--config-file", str(config), "--site-dir", str(site)],
        capture_output=True,
        text=True,
        env=env,
        cwd=config.parent,
        timeout=300,
    )


def test_the_site_builds_strictly_and_a_broken_link_fails_it(tmp_path: Path) -> None:
    done = _build(PROJECT_ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-3000:]
    settings_page = (tmp_path / "site" / "settings" / "index.html").read_text()
    for name in Settings.model_fields:  # the settings table is generated from the model
        assert f"SANDBOX_{name.upper()}" in settings_page, name
    for page in (tmp_path / "site").rglob("*.html"):  # offline: nothing from the web
        html = page.read_text()
        assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html, page

    broken = tmp_path / "broken"
    shutil.copytree(PROJECT_ROOT / "docs", broken / "docs")
    shutil.copy(PROJECT_ROOT / "mkdocs.yml", broken / "mkdocs.yml")
    config = (broken / "mkdocs.yml").read_text()
    hooks = str(PROJECT_ROOT / "sandbox" / "docs_site" / "hooks.py")
    (broken / "mkdocs.yml").write_text(config.replace("sandbox/docs_site/hooks.py", hooks))
    page = broken / "docs" / "glossary.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    failed = _build(broken / "mkdocs.yml", tmp_path / "broken-site")
    assert failed.returncode != 0
    assert "no-such-page.md" in failed.stderr


def test_every_docs_page_is_in_the_nav() -> None:
    import yaml

    config = yaml.safe_load((PROJECT_ROOT / "mkdocs.yml").read_text())

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    listed = set(pages(config["nav"]))
    present = {p.name for p in (PROJECT_ROOT / "docs").glob("*.md")}
    assert present == listed
