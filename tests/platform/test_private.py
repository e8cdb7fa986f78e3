"""The home's secrets, logs and caches are their owner's only (hardening, #30)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sandbox.platform.errors import SandboxError
from sandbox.platform.private import private_dir, write_private
from sandbox.platform.services.process import Supervisor


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_secret_is_created_600_and_replaces_a_readable_one(tmp_path: Path) -> None:
    old = os.umask(0)  # the loosest umask: the file must still be 600 from the start
    try:
        target = tmp_path / "postgres.pw"
        target.write_text("old\n")
        target.chmod(0o644)
        write_private(target, "new\n")
    finally:
        os.umask(old)
    assert target.read_text() == "new\n" and mode(target) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["postgres.pw"], "no temp file left"


def test_a_private_folder_is_700_and_must_be_ours(tmp_path: Path) -> None:
    assert mode(private_dir(tmp_path / "a" / "b")) == 0o700  # created
    loose = tmp_path / "run"
    loose.mkdir()
    loose.chmod(0o777)
    # no one else reads or writes it; a search bit granted on purpose (the Postgres
    # user walking to its data as root runs it) stays
    assert mode(private_dir(loose)) == 0o711
    if os.getuid() != 0:
        pytest.skip("needs root to make a folder owned by another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)  # nobody: another user pre-created it in /tmp
    with pytest.raises(SandboxError, match="belongs to another user"):
        private_dir(theirs)


def test_the_supervisor_keeps_pid_records_and_logs_private(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "home" / "run", tmp_path / "home" / "logs")
    sup.spawn("noop", ["true"])
    for folder in ("home", "home/run", "home/logs"):
        assert mode(tmp_path / folder) & 0o077 == 0, folder
    assert mode(sup.log_path("noop")) == 0o600
    sup.stop("noop", timeout=5)


def test_the_lambda_code_cache_is_per_user_and_private() -> None:
    import io
    import zipfile

    from sandbox.orchestrate.aws.lambda_runtime import CODE_CACHE, unpack

    assert CODE_CACHE.name.endswith(f"-{os.getuid()}")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("h.py", "def handler(e, c):\n    return e\n")
    folder = unpack(buf.getvalue())
    assert (folder / "h.py").is_file()
    assert mode(CODE_CACHE) & 0o066 == 0
