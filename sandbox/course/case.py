"""The lecture's worked case, deploy dbt with ECS and Step Functions, for the notebook.

The case deploys ``aws/`` to the local AWS endpoint with the dbt ECS task definition of
the repository's dbt project (``dbt/deploy/task-definition.json``); while that project
is absent, exercise 2's solution stands in, so the walkthrough runs either way.
"""

from __future__ import annotations

from pathlib import Path

from sandbox.course.checks import COURSE_DIR
from sandbox.platform import Settings

SOLUTION_TASK_DEFINITION = (
    COURSE_DIR / "exercise-2" / "solution" / "dbt" / "deploy" / "task-definition.json"
)


def case_task_definition() -> Path:
    """The dbt task definition the case deploys: the repository's, else exercise 2's."""
    from sandbox.orchestrate.aws import DBT_TASK_DEFINITION

    return DBT_TASK_DEFINITION if DBT_TASK_DEFINITION.exists() else SOLUTION_TASK_DEFINITION


def deploy_case(settings: Settings):
    """Start the local AWS endpoint if it is not running, deploy ``aws/``; the Deployment."""
    from sandbox.orchestrate.aws.deploy import deploy
    from sandbox.platform import EmbeddedStack

    EmbeddedStack(settings).start_optional("aws")
    return deploy(settings, task_definition=case_task_definition())
