"""The AWS side of the course case, run locally: Step Functions, Lambda, ECS tasks,
EventBridge schedules, S3 triggers and CloudWatch Logs behind one local endpoint.

The endpoint is moto's server (real ASL execution with its vendored interpreter, real
API shapes for boto3 and the AWS CLI) with three things moto does not do without
Docker, added in :mod:`sandbox.orchestrate.aws.moto_extensions`: a Lambda invocation
runs the deployed handler in its own process, an ECS task runs its container's
command as a process, and schedules and S3 object-created notifications fire.
"""
