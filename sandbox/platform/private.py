"""Files and folders only their owner may read: the home's secrets, logs and caches.

A secret is written to a new file created with mode 600 and renamed over the old one,
so it is never readable by others, not even for the moment between a write and a
``chmod``. A private folder is created 700; one that exists must belong to this user
(a folder another user created first in a shared ``/tmp`` would let them swap what is
in it) and loses any read or write permission of others. Its search (x) bits stay:
run as root, the sandbox lets the unprivileged user Postgres runs as walk down to its
data folder, and only that.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sandbox.platform.errors import SandboxError


def private_dir(path: Path) -> Path:
    """``path`` as a folder of this user's with mode 700 (parents created as needed)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise SandboxError(
            f"{path} belongs to another user (uid {info.st_uid}): it may hold files they "
            "control; remove it, or point the sandbox elsewhere (SANDBOX_HOME, TMPDIR)"
        )
    if info.st_mode & 0o066:
        os.chmod(path, info.st_mode & 0o7711)
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a file only its owner reads, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
