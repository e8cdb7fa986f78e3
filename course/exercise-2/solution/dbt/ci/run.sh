#!/usr/bin/env bash
# The dbt CI/CD steps. The workflow (.github/workflows/dbt.yml) and a laptop both run
# this script, so what CI checks is what a developer can check before pushing.
#
#   dbt/ci/run.sh lint          sqlfluff on the models (settings in dbt/.sqlfluff)
#   dbt/ci/run.sh build         dbt build in a throwaway schema, dropped on exit;
#                               leaves target/ci-build/manifest.json
#   dbt/ci/run.sh slim STATE    dbt build of state:modified+ only, deferring the rest to
#                               the production manifest in the folder STATE
#   dbt/ci/run.sh deploy        image, ECS task definition, state machine (a dry run
#                               that prints the commands unless DBT_DEPLOY_DRY_RUN=0)
#   dbt/ci/run.sh all           lint, build, slim against the build's manifest, deploy (dry)
#
# Run it through `uv run --group dbt` against a loaded warehouse (`uv run sandbox demo`).
set -euo pipefail
CALLER_DIR="$PWD"
cd "$(dirname "$0")/.."
export DBT_PROFILES_DIR="$PWD"

# A schema per run: CI never writes where anyone reads, and leaves nothing behind.
throwaway_schema() {
    export DBT_SCHEMA="ci_${GITHUB_RUN_ID:-local}_$$"
    trap 'dbt run-operation drop_ci_schema >/dev/null || echo "dbt-ci: drop $DBT_SCHEMA by hand" >&2' EXIT
    echo "dbt-ci: throwaway schema $DBT_SCHEMA"
}

step_lint() {
    echo "== lint"
    sqlfluff lint models
}

step_build() {
    echo "== build"
    throwaway_schema
    dbt build --target dev --target-path target/ci-build
}

step_slim() {
    local state="${1:?slim needs the folder holding the production manifest.json}"
    state="$(cd "$CALLER_DIR" && cd "$state" && pwd)"
    [[ -f "$state/manifest.json" ]] || { echo "dbt-ci: no manifest.json in $state" >&2; exit 2; }
    echo "== slim CI against $state"
    throwaway_schema
    dbt build --select state:modified+ --defer --state "$state" --target-path target/ci-slim
}

step_deploy() {
    echo "== deploy"
    local image="${DBT_IMAGE_REPOSITORY:-123456789012.dkr.ecr.us-east-1.amazonaws.com/lakehouse-dbt}"
    image="$image:$(git rev-parse --short HEAD 2>/dev/null || echo local)"
    mkdir -p target/deploy
    sed "s|\${Image}|$image|" deploy/task-definition.json > target/deploy/task-definition.json
    local run=echo
    [[ "${DBT_DEPLOY_DRY_RUN:-1}" == "0" ]] && run=""
    $run docker build -t "$image" .
    $run docker push "$image"
    $run aws ecs register-task-definition --cli-input-json file://target/deploy/task-definition.json
    $run aws stepfunctions update-state-machine --state-machine-arn "${STATE_MACHINE_ARN:-<arn>}" \
        --definition file://../aws/stepfunctions/dbt_build.asl.json
}

case "${1:-}" in
    lint) step_lint ;;
    build) step_build ;;
    slim) step_slim "${2:-}" ;;
    deploy) step_deploy ;;
    all)
        step_lint
        (step_build)
        (step_slim target/ci-build)
        step_deploy
        ;;
    *) echo "usage: dbt/ci/run.sh lint|build|slim STATE|deploy|all" >&2; exit 2 ;;
esac
