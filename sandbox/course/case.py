"""The lecture's worked case, deploy dbt with ECS and Step Functions, for the notebook.

The case deploys ``aws/template.yaml`` (the dbt ECS task definition included) to the
local AWS endpoint, as ``aws cloudformation deploy`` deploys it to AWS.
"""

from __future__ import annotations

from sandbox.platform import Settings


def deploy_case(settings: Settings):
    """Start the local AWS endpoint if it is not running, deploy the template; the Deployment."""
    from sandbox.orchestrate.aws.deploy import deploy
    from sandbox.platform import EmbeddedStack

    EmbeddedStack(settings).start_optional("aws")
    return deploy(settings)
