"""The one place a SparkSession is built.

Jobs, notebooks and tests call :func:`spark_session`; none builds its own. Where no
stack runs (unit tests, the course checker, ``jobs.local_run``), :func:`in_process_sail`
starts a Sail server of its own. The session
is a Spark Connect client, so the same code runs on Sail (embedded profile) and on
Apache Spark (compose profile): only the remote URL differs.
"""

from __future__ import annotations

import atexit
import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

import sandbox.platform.endpoints as endpoints
from sandbox.platform.errors import SandboxError
from sandbox.platform.ports import tcp_answers
from sandbox.platform.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession


# Spark Connect sessions (pyspark types them apart from the SparkSession they stand in for).
_SESSIONS: dict[str, ConnectSession] = {}


class SparkNotRunningError(SandboxError):
    """The Spark Connect server of the active profile does not answer."""


def spark_session(settings: Settings) -> SparkSession:
    """A Spark Connect session on the engine of ``settings.profile``.

    Raises SparkNotRunningError if the server does not answer (run ``sandbox up``).
    The session is stopped at interpreter exit: a Spark Connect client left open
    after its server went away keeps the interpreter from exiting.
    """
    host, port = settings.spark_address
    if not tcp_answers(host, port, timeout=2):
        where = f"{host}:{port}"
        raise SparkNotRunningError(
            f"spark: the Spark Connect server at {where} named by SANDBOX_SPARK_URL does not "
            "answer (the sandbox does not start an external one)"
            if settings.external("spark")
            else f"spark: no Spark Connect server at {where} (profile {settings.profile}); "
            "run `sandbox up` first"
        )
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.client.retries import DefaultPolicy

    cached = _SESSIONS.get(settings.spark_remote)
    if cached is not None and not cached.is_stopped:
        return cast("SparkSession", cached)
    # create(), not getOrCreate(): the latter hands back whatever session exists,
    # even one connected to another server.
    spark = SparkSession.builder.remote(settings.spark_remote).create()
    _SESSIONS[settings.spark_remote] = spark
    # The client's default policy retries an unreachable server for ten minutes; a
    # local engine that does not answer for half a minute is down, not busy.
    spark.client.set_retry_policies([DefaultPolicy(max_retries=8, max_backoff=5000)])
    # Spark's own default is the JVM's zone; the lake is UTC end to end.
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    atexit.register(_stop_quietly, spark, host, port)
    return spark


def stop_sessions() -> None:
    """Stop every session this process opened (a forked ``--watch`` run, which exits
    without the interpreter's exit handlers, releases its server-side session here).

    Each is checked against its own server: one whose server is gone is not retried
    (a process that ran several stacks, a test worker, would wait a minute on each)."""
    while _SESSIONS:
        remote, spark = _SESSIONS.popitem()
        _stop_quietly(spark, *endpoints.spark_address(remote))


def _stop_quietly(spark: ConnectSession, host: str, port: int) -> None:
    from pyspark.sql.connect.client.retries import DefaultPolicy
    from pyspark.sql.connect.logging import logger

    if not tcp_answers(host, port, timeout=1):
        # The server is gone: release calls would only be retried in vain.
        spark.client.set_retry_policies([DefaultPolicy(max_retries=0)])
    # PySpark logs a failed release ("GRPC Error received", with its traceback) on its
    # Spark Connect logger. That logger is off unless SPARK_CONNECT_LOG_LEVEL is set,
    # but a logging.config call anywhere in the process (Airflow's, dbt's) turns it
    # on, and at exit its stream may already be closed: one traceback per session.
    silenced, logger.disabled = logger.disabled, True
    try:
        with warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")  # RETRIES_EXCEEDED for a server already gone
            spark.stop()
    finally:
        logger.disabled = silenced


@contextlib.contextmanager
def in_process_sail(*, quiet: bool = False) -> Iterator[SparkSession]:
    """A Spark Connect session on a Sail server of its own, in this process, on a free
    loopback port; both stopped on exit. For transforms on small frames (tests, the
    course checker, ``jobs.local_run``), where no stack runs.

    ``quiet``: Sail's info lines on stderr would bury what the caller prints (the
    checker's grades). Read when the first server starts; a user's own ``RUST_LOG`` wins.
    """
    import os

    from pysail.spark import SparkConnectServer
    from pyspark.sql import SparkSession

    if quiet:
        os.environ.setdefault("RUST_LOG", "error")
    server = SparkConnectServer("127.0.0.1", 0)
    server.start(background=True)
    try:
        host, port = server.listening_address
        spark = SparkSession.builder.remote(f"sc://{host}:{port}").create()
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        try:
            yield spark
        finally:
            spark.stop()
    finally:
        server.stop()
