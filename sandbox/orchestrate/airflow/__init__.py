"""Apache Airflow over the pipeline: its configuration, the process that runs it, a client.

Airflow runs from the project's own environment (the ``airflow`` dependency group), with
its metadata in a SQLite file under ``<home>/airflow`` and ``dags/`` as its DAG folder.
``sandbox airflow up`` (``just airflow``) starts it as an on-demand service of the
embedded stack; each DAG task runs ``sandbox run <task>`` in a process of its own (see
``dags/local_pod.py``), the way production runs each task in its own pod.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.orchestrate.airflow.client import AirflowClient
    from sandbox.orchestrate.airflow.graph import export

_EXPORTS = {
    "AirflowClient": "client",
    "export": "graph",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["AirflowClient", "export"]
