"""Silver's run record: every table is staged and checked before any is published.

Delta commits one table at a time, so "all silver tables or none" needs a record of
the run beside the tables:

    s3://<lake>/silver/<domain>/<table>/staged-<run>/_dq=passed/                 passed rows
    s3://<lake>/silver/<domain>/_quarantine/<table>/staged-<run>/_dq=quarantined/ the others
    s3://<lake>/silver/_staging/<run>/_STAGING.json                 the tables it stages
    s3://<lake>/silver/_staging/<run>/_PUBLISH.json                 intent to publish

A run stages every table (later tables read earlier ones back from their staged
Parquet) and checks each one's rules. A table is staged by one Spark write of its rows
split in two (``publish.stage_parts``), so its rules are computed once for both. A
failing rule discards the staged files: the published tables keep their previous
Delta version. Only when every table passed is
``_PUBLISH.json`` written; then every table is published by one Delta commit that
points it at its staged files (``sandbox.jobs.publish``, no copy), and the run's
record is removed. A crash after the marker and before the removal is rolled forward
by ``recover`` (the next silver run calls it first, and gold refuses to read while one
is pending); a crash before the marker leaves the published tables untouched, and
``recover`` deletes what the run staged.
"""

from __future__ import annotations

import io
import json

from minio.error import S3Error

from sandbox.jobs import publish
from sandbox.jobs.fingerprint import KnownStates
from sandbox.jobs.layers import quarantine_path, silver_path
from sandbox.jobs.publish import StagedTable
from sandbox.platform import Progress, SandboxError, Settings
from sandbox.platform.services import remove_prefix, s3_client

STAGING = "_staging"
MARKER = "_PUBLISH.json"
INTENT = "_STAGING.json"


class SilverPublishPending(SandboxError):
    """A silver publish was interrupted; the next silver run completes it."""


class SilverStaging:
    """One run of silver: where it stages, and its publish."""

    def __init__(self, settings: Settings, run: str | None = None) -> None:
        self.settings = settings
        self.run = run or publish.new_run()
        self.prefix = f"silver/{STAGING}/{self.run}/"

    def uris(self, domain: str, table: str) -> tuple[str, str]:
        """The published table and its quarantine, whose folders this run stages into."""
        return silver_path(self.settings, domain, table), quarantine_path(
            self.settings, domain, table
        )

    def _put(self, name: str, payload: dict) -> None:
        body = json.dumps(payload).encode()
        s3_client(self.settings).put_object(
            self.settings.lake_bucket, self.prefix + name, io.BytesIO(body), len(body)
        )

    def _get(self, name: str) -> dict | None:
        s3 = s3_client(self.settings)
        try:
            body = s3.get_object(self.settings.lake_bucket, self.prefix + name)
        except S3Error as exc:
            if exc.code == "NoSuchKey":
                return None
            raise
        try:
            return json.loads(body.read())
        finally:
            body.close()
            body.release_conn()

    def begin(self, tables: list[tuple[str, str]]) -> None:
        """Record the tables this run will stage into, before it stages any."""
        uris = [u for domain, table in tables for u in self.uris(domain, table)]
        self._put(INTENT, {"run": self.run, "uris": uris})

    def publish(self, staged: list[StagedTable], progress: Progress | None = None) -> KnownStates:
        """Record the intent, commit every staged table, remove the run's record.
        Returns the tables' states after their commits."""
        self._put(MARKER, {"run": self.run, "tables": [t.to_json() for t in staged]})
        states = self._commit(staged, progress)
        self._forget()
        return states

    def _commit(self, staged: list[StagedTable], progress: Progress | None) -> KnownStates:
        states = publish.commit_all(self.settings, staged)
        if progress:
            progress(f"silver: {len(staged)} tables published in one step (run {self.run})")
        return states

    def discard(self) -> None:
        """Delete what this run staged (published tables are not touched), and its record."""
        intent = self._get(INTENT) or {"uris": []}
        publish.discard(self.settings, intent["uris"], self.run)
        self._forget()

    def _forget(self) -> None:
        remove_prefix(s3_client(self.settings), self.settings.lake_bucket, self.prefix)

    def pending(self) -> list[StagedTable] | None:
        """The tables of an interrupted publish of this run, or None if it never began."""
        marker = self._get(MARKER)
        if marker is None:
            return None
        return [StagedTable.from_json(t) for t in marker["tables"]]


def _runs(settings: Settings, marker_only: bool) -> list[str]:
    prefix = f"silver/{STAGING}/"
    # From the objects, not the folders: SeaweedFS keeps a folder after its last object.
    objects = s3_client(settings).list_objects(settings.lake_bucket, prefix, recursive=True)
    names = [o.object_name[len(prefix) :] for o in objects]
    return sorted(
        {n.split("/", 1)[0] for n in names if not marker_only or n.endswith(f"/{MARKER}")}
    )


def staged_runs(settings: Settings) -> list[str]:
    """Runs that left a record behind (interrupted or failed), oldest first."""
    return _runs(settings, marker_only=False)


def pending_publishes(settings: Settings) -> list[str]:
    """Runs whose publish began and did not finish."""
    return _runs(settings, marker_only=True)


def recover(settings: Settings, progress: Progress | None = None) -> list[str]:
    """Finish every interrupted publish, discard every abandoned run's staged files.

    Returns the runs whose publish was completed.
    """
    completed = []
    for run in staged_runs(settings):
        area = SilverStaging(settings, run)
        tables = area.pending()
        if tables is None:
            area.discard()
            continue
        if progress:
            progress(f"silver: completing the interrupted publish of run {run}")
        area._commit(tables, progress)
        area._forget()
        completed.append(run)
    return completed
