"""Running the pipeline: its tasks in order (``run_pipeline``), the demo, the watch loop
for the inner loop, and the production orchestrators (``airflow``, ``aws``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.platform.lazy import lazy_exports

if TYPE_CHECKING:
    from sandbox.orchestrate.demo import run_demo
    from sandbox.orchestrate.pipeline import TASKS, Task, run_pipeline, select, task_names
    from sandbox.orchestrate.watch import preload

_EXPORTS = {
    "TASKS": "pipeline",
    "Task": "pipeline",
    "run_pipeline": "pipeline",
    "select": "pipeline",
    "task_names": "pipeline",
    "run_demo": "demo",
    "preload": "watch",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["TASKS", "Task", "preload", "run_demo", "run_pipeline", "select", "task_names"]
