"""Where the local AWS endpoint keeps its state, under the stack's runtime folder.

Both sides read these paths: the endpoint (``server``) and the deploy that writes what
the endpoint cannot take through an AWS API it carries (the raw bucket lives on the
stack's S3 server, not on the endpoint, so its notification is a file the endpoint
watches).
"""

from __future__ import annotations

from pathlib import Path


def notifications_file(runtime_dir: Path) -> Path:
    """The raw bucket's notification configuration, as the deploy last wrote it."""
    return runtime_dir / "aws" / "s3-notifications.json"
