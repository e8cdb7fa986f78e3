"""`sandbox doctor`: exit 0 with no FAIL on a working install, non-zero naming what is broken."""

from __future__ import annotations

import json
import socket

from .conftest import Sandbox


def test_doctor_passes_on_this_install(sandbox: Sandbox) -> None:
    ran = sandbox("doctor", "--json")
    report = json.loads(ran.out)
    failed = [c for c in report["checks"] if c["level"] == "fail"]
    assert ran.code == 0 and report["ok"] and not failed, failed
    sail = next(c for c in report["checks"] if c["name"] == "sail")
    assert "pysail" in sail["detail"] and "pyspark" in sail["detail"]


def test_doctor_fails_naming_a_taken_port(sandbox: Sandbox) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        ran = sandbox("doctor", env={"SANDBOX_POSTGRES_PORT": str(port)})
    assert ran.code == 1
    failing = [line for line in ran.out.splitlines() if "FAIL" in line]
    assert len(failing) == 1 and f"port {port}" in failing[0] and "postgres" in failing[0]
    assert "SANDBOX_POSTGRES_PORT" in failing[0]
