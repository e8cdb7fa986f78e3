# Recipes for the lakehouse sandbox. `uv run just --list` shows them all.
# `just` itself comes from the rust-just dev dependency: `uv run just <recipe>`.

set dotenv-load := false

# List the recipes
default:
    @just --list

# Run the whole platform end to end
demo *ARGS:
    uv run sandbox demo {{ARGS}}

# Lint, check formatting and types, run the default tests (slow service tests included),
# two test files at a time (most of the time is spent waiting on servers, not computing)
test *ARGS:
    uv run ruff check .
    uv run ruff format --check .
    uv run mypy
    uv run pytest -n 2 --dist loadfile --durations=12 {{ARGS}}

# Quick loop: skip the tests that start real services
test-fast *ARGS:
    uv run pytest -m "not slow" {{ARGS}}

# Format the code
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# Serve the documentation site on 127.0.0.1:8000, rebuilt on every save
docs *ARGS:
    NO_MKDOCS_2_WARNING=1 uv run mkdocs serve --dev-addr 127.0.0.1:8000 {{ARGS}}

# Build the documentation site strictly (a broken link or page fails) into .sandbox/site
docs-build *ARGS:
    NO_MKDOCS_2_WARNING=1 uv run mkdocs build --strict {{ARGS}}

# Start the stack if needed and open JupyterLab on the notebooks
lab:
    uv run python -m sandbox.platform.lab

# Start the stack if needed, then Apache Airflow (UI on 127.0.0.1:8080, admin/admin)
airflow *ARGS:
    uv run sandbox airflow up {{ARGS}}

# Start the services
up *ARGS:
    uv run sandbox up {{ARGS}}

# Stop the services
down *ARGS:
    uv run sandbox down {{ARGS}}

# Show the services
status *ARGS:
    uv run sandbox status {{ARGS}}

# Preflight checks
doctor *ARGS:
    uv run sandbox doctor {{ARGS}}

# Measure start, stop and idle memory (writes bench-results/)
bench *ARGS:
    uv run sandbox bench {{ARGS}}

# dbt over the warehouse, e.g. `just dbt build`, `just dbt docs generate` (docs/dbt.md)
dbt *ARGS:
    uv run python -m sandbox.orchestrate.dbt run -- {{ARGS}}

# The dbt CI/CD steps of .github/workflows/dbt.yml on this machine (default: all)
dbt-ci STEP="all" *ARGS:
    uv run dbt/ci/run.sh {{STEP}} {{ARGS}}
