"""The lake jobs' entry point picks the cluster's Spark under spark-submit (issue #28/#35).

On EMR the file is started by ``spark-submit``; it must run on the cluster's own
``SparkSession``, not open a Spark Connect session to a sandbox server. The pyspark wheel
ships ``spark-submit`` and a JVM Spark (no Delta or S3 jars, so only the session is
checked here, not a whole task).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.platform.settings import PROJECT_ROOT

JOB = PROJECT_ROOT / "aws" / "jobs" / "lakehouse_job.py"
PROBE = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("lakehouse_job", {str(JOB)!r})
job = importlib.util.module_from_spec(spec)
spec.loader.exec_module(job)
spark = job.cluster_session()
print("SESSION", type(spark).__module__, spark.conf.get("spark.sql.session.timeZone"))
print("SUM", spark.range(10).groupBy().sum("id").collect()[0][0])
spark.stop()
"""


def _spark_submit() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent / "bin" / "spark-submit"


def test_without_spark_submit_it_uses_spark_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("lakehouse_job", JOB)
    assert spec is not None and spec.loader is not None
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    assert job.cluster_session() is None
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "1")
    monkeypatch.setenv("SANDBOX_SPARK_URL", "sc://spark.example:15002")
    assert job.cluster_session() is None  # a URL named on purpose wins


@pytest.mark.matrix  # a JVM start, about 15 s
@pytest.mark.skipif(shutil.which("java") is None, reason="spark-submit needs Java, absent here")
def test_under_spark_submit_it_runs_on_the_clusters_own_session(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "SANDBOX_"))}
    env["PYSPARK_PYTHON"] = sys.executable
    done = subprocess.run(
        [str(_spark_submit()), "--master", "local[1]", str(probe)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "SESSION pyspark.sql.session UTC" in done.stdout, done.stdout
    assert "SUM 45" in done.stdout
