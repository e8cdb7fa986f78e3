#!/usr/bin/env bash
# The dbt CI/CD steps. GitHub Actions (.github/workflows/dbt.yml) and the laptop
# (`uv run just dbt-ci`) both call this script, so the two cannot drift.
#
#   dbt/ci/run.sh lint           sqlfluff (Redshift dialect, dbt templater)
#   dbt/ci/run.sh build          dbt build on a throwaway target (a clone of the
#                                embedded warehouse, or a ci_<run> schema in a real
#                                one); leaves target/ci-build/manifest.json
#   dbt/ci/run.sh slim STATE     dbt build of state:modified+ only, deferring the rest
#                                to the production manifest in STATE (and, on a real
#                                warehouse, to production's relations themselves)
#   dbt/ci/run.sh deploy         docker build + push, cloudformation package + deploy of
#                                aws/template.yaml with the image's tag, the deployed
#                                manifest to S3 (a dry run unless DBT_DEPLOY_DRY_RUN=0)
#   dbt/ci/run.sh all            lint, build, slim (against $DBT_STATE, else the build's
#                                manifest), deploy as a dry run: the laptop's CI
#
# Run it through `uv run` (the project's environment, dbt group included) against a
# running sandbox whose warehouse is loaded (`uv run sandbox demo`). Connection comes
# from the sandbox settings (SANDBOX_* variables); the password never reaches argv.
set -euo pipefail
CALLER_DIR="$PWD"
cd "$(dirname "$0")/.."
DBT_DIR="$PWD"
REPO_DIR="$(dirname "$DBT_DIR")"
# DBT_PROJECT_DIR lets a test run the steps on a copy of the project.
PROJECT_DIR="${DBT_PROJECT_DIR:-$DBT_DIR}"

if ! command -v dbt >/dev/null || ! command -v sqlfluff >/dev/null; then
    echo "dbt-ci: dbt or sqlfluff not on PATH; run through \`uv run\` (dbt group)" >&2
    exit 2
fi

sandbox_dbt() { (cd "$REPO_DIR" && python -m sandbox.orchestrate.dbt "$@"); }

# A throwaway target per run, dropped however the step ends. On a real warehouse
# (SANDBOX_WAREHOUSE_URL: the team's Redshift) it is a schema of its own, ci_<run>, in
# the production database, so slim CI's --defer reads production's analytics_*
# relations where they are and nothing is built first. On the embedded warehouse it is
# a clone of the whole database (a file copy, a second).
CI_TARGET=()
with_ci_target() {
    local run="${GITHUB_RUN_ID:-local}_${GITHUB_RUN_ATTEMPT:-0}_$$"
    if [[ "$(sandbox_dbt ci-place)" == schema ]]; then
        local schema="ci_$run"
        trap "sandbox_dbt ci-schema drop $(printf %q "$schema")" EXIT
        sandbox_dbt ci-schema check "$schema"
        CI_TARGET=(--target ci --ci-schema "$schema")
        echo "dbt-ci: throwaway schema $schema (and ${schema}_*) in the warehouse"
    else
        local db="warehouse_ci_$run"
        trap "sandbox_dbt ci-db drop $(printf %q "$db")" EXIT
        sandbox_dbt ci-db create "$db"
        CI_TARGET=(--target ci --ci-db "$db")
        echo "dbt-ci: throwaway warehouse $db"
    fi
}

step_lint() {
    echo "== lint"
    # The dbt templater compiles through dbt, which opens a connection: the dev target.
    # A subshell, so the connection variables do not leak into the next steps.
    (
        eval "$(sandbox_dbt env)"
        cd "$PROJECT_DIR"
        DBT_PROJECT_DIR="$PROJECT_DIR" DBT_PROFILES_DIR="$PROJECT_DIR" sqlfluff lint models tests
    )
}

step_build() {
    echo "== build"
    with_ci_target
    sandbox_dbt run "${CI_TARGET[@]}" --project-dir "$PROJECT_DIR" -- \
        build --target-path target/ci-build
    echo "dbt-ci: manifest at $PROJECT_DIR/target/ci-build/manifest.json"
}

step_slim() {
    local state="${1:?slim needs the folder of the production manifest}"
    state="$(cd "$CALLER_DIR" && cd "$state" && pwd)"
    [[ -f "$state/manifest.json" ]] || { echo "dbt-ci: no manifest.json in $state" >&2; exit 2; }
    echo "== slim CI against $state"
    with_ci_target
    sandbox_dbt run "${CI_TARGET[@]}" --project-dir "$PROJECT_DIR" -- \
        build --select state:modified+ --defer --state "$state" --target-path target/ci-slim
}

step_deploy() {
    echo "== deploy"
    # The dbt task definition lives in aws/template.yaml with the state machine that runs
    # it: a deploy is the image, then the stack with the image's tag. CloudFormation
    # registers the new task definition and updates the state machine in one change set,
    # so an edit to either file deploys too. Then the manifest of what was deployed goes
    # to S3: the state the next pull requests' slim CI compares to.
    local dry="${DBT_DEPLOY_DRY_RUN:-1}"
    local sha repo image out stack bucket
    sha="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo local)"
    # The repository the template's task definition names: lakehouse-dbt in the ECR of
    # the account and region deployed to (so the pushed image is the one ECS pulls).
    if [[ "$dry" != 0 ]]; then
        repo="<account>.dkr.ecr.<region>.amazonaws.com/lakehouse-dbt"
    else
        repo="$(aws sts get-caller-identity --query Account --output text).dkr.ecr.${AWS_REGION:?deploy needs AWS_REGION}.amazonaws.com/lakehouse-dbt"
    fi
    image="$repo:$sha"
    stack="${STACK_NAME:-lakehouse-course}"
    bucket="${ARTIFACTS_BUCKET:-lakehouse-artifacts}"
    out="$PROJECT_DIR/target/deploy"
    mkdir -p "$out"
    # The production manifest, compiled for the prod target (no warehouse needed to parse)
    sandbox_dbt run --target prod --project-dir "$PROJECT_DIR" -- parse --target-path target/deploy
    local -a package=(aws cloudformation package --template-file "$REPO_DIR/aws/template.yaml"
        --s3-bucket "$bucket" --output-template-file "$out/packaged.yaml")
    local -a deploy=(aws cloudformation deploy --template-file "$out/packaged.yaml"
        --stack-name "$stack" --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset
        --parameter-overrides "DbtImageTag=$sha" "ArtifactsBucketName=$bucket")
    # the lake jobs' entry point, which the stack's EMR job runs name (package uploads
    # only Code and DefinitionS3Location)
    local -a job=(aws s3 cp "$REPO_DIR/aws/jobs/lakehouse_job.py" "s3://$bucket/jobs/lakehouse_job.py")
    local -a state=(aws s3 cp "$out/manifest.json" "s3://$bucket/dbt/manifest.json")
    if [[ "$dry" != 0 ]]; then
        echo "+ (dry run) docker build -t $image $PROJECT_DIR"
        echo "+ (dry run) docker push $image"
        echo "+ (dry run) ${package[*]}"
        echo "+ (dry run) ${job[*]}"
        echo "+ (dry run) ${deploy[*]}"
        echo "+ (dry run) ${state[*]}"
        return
    fi
    docker build -t "$image" "$PROJECT_DIR"
    docker push "$image"
    "${package[@]}"
    "${job[@]}"
    "${deploy[@]}"
    "${state[@]}"
    echo "dbt-ci: stack $stack runs $image; production state at s3://$bucket/dbt/manifest.json"
}

case "${1:-}" in
    lint) step_lint ;;
    build) step_build ;;
    slim) step_slim "${2:-}" ;;
    deploy) step_deploy ;;
    all)
        step_lint
        # Each step in its own shell, as each is its own job in the workflow.
        "$DBT_DIR/ci/run.sh" build
        "$DBT_DIR/ci/run.sh" slim "${DBT_STATE:-$PROJECT_DIR/target/ci-build}"
        DBT_DEPLOY_DRY_RUN=1 "$DBT_DIR/ci/run.sh" deploy
        ;;
    *)
        echo "usage: dbt/ci/run.sh lint|build|slim STATE|deploy|all" >&2
        exit 2
        ;;
esac
