"""``just lab``: start the stack if needed, then JupyterLab on the notebooks folder."""

from __future__ import annotations

import os
import sys

from sandbox.platform.settings import PROJECT_ROOT

NOTEBOOKS = PROJECT_ROOT / "notebooks"


def lab_argv(port: int = 8888, *, token: str | None = None) -> list[str]:
    """The JupyterLab command line: localhost only, the notebooks folder, no extension shop."""
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--ServerApp.root_dir={NOTEBOOKS}",
        "--LabApp.extension_manager=readonly",
    ]
    if token is not None:
        argv.append(f"--IdentityProvider.token={token}")
    if os.geteuid() == 0:
        argv.append("--allow-root")  # CI and containers run as root
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        argv.append("--no-browser")
    return argv


def main() -> None:
    from sandbox.platform.errors import SandboxError
    from sandbox.platform.settings import load_settings
    from sandbox.platform.stack import EmbeddedStack

    try:
        settings = load_settings()
        if settings.profile == "embedded":
            EmbeddedStack(settings).up(progress=print)
    except SandboxError as exc:  # a bad setting, a busy port: one line, not a traceback
        sys.exit(f"error: {' '.join(str(exc).split())}")
    argv = lab_argv()
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
