"""What `sandbox --help` and `sandbox status` load: the imports that made them slow
(issue #34) stay out. Timings are a benchmark (`sandbox bench --only cli`); this test
checks the cause, the modules, so it cannot flake with the machine's load."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_FOR_HELP = (
    "pydantic_settings",  # the settings: 0.2 s
    "psycopg",
    "pyarrow",
    "minio",
    "rich.markdown",  # typer's rich help: 0.2 s with pygments and markdown-it
    "pygments",
    "sandbox.platform.settings",
)


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_help_loads_no_settings_database_driver_or_rich_help() -> None:
    code = (
        "import contextlib, io, sys\n"
        "sys.argv = ['sandbox', '--help']\n"
        "from sandbox.cli import app\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    app()\n"
    )
    loaded = _modules_after(code)
    assert "sandbox.cli.services" in loaded  # the probe ran the real command
    assert not {m for m in HEAVY_FOR_HELP if m in loaded}


def test_the_stack_and_its_services_load_no_s3_client_or_arrow() -> None:
    loaded = _modules_after("import sandbox.platform.stack")
    assert not {"minio", "pyarrow", "psycopg"} & loaded


def test_help_groups_commands_under_their_panels() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for panel in ("Services:", "Pipeline:", "Orchestration:"):
        assert panel in out, out
    services = out.split("Services:")[1].split("\n\n")[0]
    assert "status" in services and "demo" not in services
