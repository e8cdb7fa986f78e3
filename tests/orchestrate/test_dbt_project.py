"""The dbt project's files and contracts, with no service: sources, workflow, ECS task."""

from __future__ import annotations

import json
import re
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from sandbox.jobs.gold import GOLD_TABLES
from sandbox.orchestrate.aws.template import load_template
from sandbox.orchestrate.dbt import (
    DBT_PROJECT,
    DbtError,
    dbt_command,
    dbt_env,
    dev_schema,
    main,
    task_command,
    task_definition,
    warehouse_type,
)
from sandbox.platform.settings import PROJECT_ROOT, Settings

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "dbt.yml"
CI_SCRIPT = "dbt/ci/run.sh"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, home=tmp_path, postgres_port=25432)


def test_every_gold_table_and_column_is_a_documented_source() -> None:
    doc = yaml.safe_load((DBT_PROJECT / "models/staging/_gold__sources.yml").read_text())
    (gold,) = doc["sources"]
    assert gold["schema"] == "gold"
    declared = {t["name"]: [c["name"] for c in t["columns"]] for t in gold["tables"]}
    assert declared == {t.name: list(t.columns) for t in GOLD_TABLES}
    for table in gold["tables"]:
        assert table["description"] and all(c["description"] for c in table["columns"])


def test_the_project_declares_every_kind_of_test_and_the_report_exposure() -> None:
    text = "\n".join(p.read_text() for p in (DBT_PROJECT / "models").rglob("*.yml"))
    for kind in ("unique", "not_null", "relationships:", "accepted_values:"):
        assert kind in text
    assert list((DBT_PROJECT / "tests").glob("*.sql")), "a singular test"
    exposures = yaml.safe_load((DBT_PROJECT / "models/exposures.yml").read_text())["exposures"]
    assert "gold_report" in {e["name"] for e in exposures}


def test_models_use_no_redshift_only_functions() -> None:
    # These fail on the Postgres stand-in; dbt's cross-database macros replace them.
    banned = re.compile(r"\b(getdate|nvl|convert_timezone|listagg|datediff\s*\(\s*day)\b", re.I)
    for sql in DBT_PROJECT.rglob("*.sql"):
        if "target" not in sql.relative_to(DBT_PROJECT).parts:
            assert not banned.search(sql.read_text()), sql


def test_dbt_env_carries_the_warehouse_connection(settings: Settings) -> None:
    env = dbt_env(settings)
    assert env["WAREHOUSE_PORT"] == "25432" and env["WAREHOUSE_DB"] == "warehouse"
    assert env["DBT_TARGET"] == "dev" and env["DBT_PROFILES_DIR"] == str(DBT_PROJECT)
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert dbt_env(settings, target="ci", ci_database="wci")["WAREHOUSE_CI_DB"] == "wci"
    with pytest.raises(DbtError, match="unknown target 'qa'"):
        dbt_env(settings, target="qa")
    with pytest.raises(DbtError, match="ci target needs one throwaway place"):
        dbt_env(settings, target="ci")
    with pytest.raises(DbtError, match="ci target needs one throwaway place"):
        dbt_env(settings, target="ci", ci_database="wci", ci_schema="ci_1")
    # the password travels in the environment only
    cmd = dbt_command(settings, "build")
    assert cmd[-1] == "build" and Path(cmd[0]).name == "dbt"
    assert "sandbox" not in " ".join(cmd[1:])


def test_dev_writes_a_schema_per_developer(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_DEV_SCHEMA", raising=False)
    assert dev_schema("Ana.Souza") == "dbt_ana_souza"
    assert dev_schema("joão-silva") == "dbt_jo_o_silva"
    assert dev_schema("---") == "dbt_dev"
    assert dbt_env(settings)["DBT_DEV_SCHEMA"].startswith("dbt_")
    # prod and ci keep the profile's analytics schema: no per-developer variable
    assert "DBT_DEV_SCHEMA" not in dbt_env(settings, target="prod")
    profile = yaml.safe_load((DBT_PROJECT / "profiles.yml").read_text())["lakehouse"]
    assert "DBT_DEV_SCHEMA" in profile["outputs"]["dev"]["schema"]
    assert profile["outputs"]["prod"]["schema"] == "analytics"
    assert "'analytics'" in profile["outputs"]["ci"]["schema"]  # on a clone: analytics
    monkeypatch.setenv("DBT_DEV_SCHEMA", "dbt_review_42")
    assert dbt_env(settings)["DBT_DEV_SCHEMA"] == "dbt_review_42"
    monkeypatch.setenv("DBT_DEV_SCHEMA", "Analytics; drop")
    with pytest.raises(DbtError, match="DBT_DEV_SCHEMA='Analytics; drop'"):
        dbt_env(settings)


def test_ci_on_a_real_warehouse_gets_a_ci_schema_and_its_adapter(tmp_path: Path) -> None:
    """With SANDBOX_WAREHOUSE_URL, CI's throwaway target is a ci_<run> schema of that
    warehouse (not a clone of the embedded one), on Redshift's adapter when the host is
    a Redshift endpoint (the host forms of
    https://docs.aws.amazon.com/redshift/latest/mgmt/connecting-connection-string.html)."""
    from pydantic import SecretStr

    url = "postgresql://ci:pw@lake.abc123.us-east-1.redshift.amazonaws.com:5439/prod"
    external = Settings(_env_file=None, home=tmp_path, warehouse_url=SecretStr(url))
    env = dbt_env(external, target="ci", ci_schema="ci_42_1")
    assert env["WAREHOUSE_CI_SCHEMA"] == "ci_42_1" and "WAREHOUSE_CI_DB" not in env
    assert env["WAREHOUSE_HOST"].endswith(".redshift.amazonaws.com")
    assert env["WAREHOUSE_DB"] == "prod" and env["WAREHOUSE_TYPE"] == "redshift"
    serverless = "wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com"
    assert warehouse_type(serverless) == "redshift"
    assert warehouse_type("lake.abc.cn-north-1.redshift.amazonaws.com.cn") == "redshift"
    assert warehouse_type("redshift.amazonaws.com.example.org") == "postgres"
    assert warehouse_type("127.0.0.1") == "postgres"
    # no port in the URL: Redshift's default port (5439), Postgres's (5432)
    portless = "postgresql://ci:pw@wg.123456789012.eu-west-1.redshift-serverless.amazonaws.com/dev"
    redshift = Settings(_env_file=None, home=tmp_path, warehouse_url=SecretStr(portless))
    assert dbt_env(redshift, target="ci", ci_schema="ci_1_1")["WAREHOUSE_PORT"] == "5439"
    # the same for every libpq client (the CI schema check and drop, the warehouse load)
    assert ".amazonaws.com:5439/dev" in redshift.warehouse_dsn()
    plain = Settings(_env_file=None, home=tmp_path, warehouse_url=SecretStr("postgresql://u@db/w"))
    assert dbt_env(plain, target="ci", ci_schema="ci_1_1")["WAREHOUSE_PORT"] == "5432"
    # production's schemas are never CI's to create or drop
    for bad in ("analytics", "ci_", "ci_x; drop schema analytics", "CI_1"):
        with pytest.raises(DbtError, match="must look like ci_<run>"):
            dbt_env(external, target="ci", ci_schema=bad)
    # an empty URL (a CI secret that is not set) is the embedded warehouse
    empty = Settings(_env_file=None, home=tmp_path, warehouse_url="")  # type: ignore[arg-type]
    assert empty.warehouse_url is None and not empty.external("warehouse")


def test_task_definition_is_a_register_task_definition_input() -> None:
    td = task_definition()
    assert td["family"] and td["requiresCompatibilities"] == ["FARGATE"]
    (container,) = td["containerDefinitions"]
    assert container["name"] == "dbt" and container["essential"] is True
    assert container["command"] == ["dbt", "build", "--target", "prod"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    # the log group is the template's DbtLogGroup resource, named /ecs/lakehouse-dbt
    assert container["logConfiguration"]["options"]["awslogs-group"] == "<DbtLogGroup>"
    group = load_template()["Resources"]["DbtLogGroup"]["Properties"]["LogGroupName"]
    assert group == "/ecs/lakehouse-dbt"
    names = {e["name"] for e in container["environment"]}
    assert {"WAREHOUSE_HOST", "WAREHOUSE_PORT", "WAREHOUSE_USER", "WAREHOUSE_DB"} <= names
    # the password is a secret reference, never a value in the file
    assert [s["name"] for s in container["secrets"]] == ["DBT_ENV_SECRET_WAREHOUSE_PASSWORD"]
    # from aws/template.yaml: the image's tag is the parameter the dbt deploy sets
    assert container["image"].endswith("/lakehouse-dbt:latest")


def test_task_command_runs_the_container_command_on_the_sandbox(settings: Settings) -> None:
    cmd, env = task_command(settings)
    assert Path(cmd[0]).name == "dbt" and cmd[1:] == ["build", "--target", "prod"]
    # the sandbox's warehouse wins over the Redshift host of the file
    assert env["WAREHOUSE_HOST"] == "127.0.0.1" and env["WAREHOUSE_PORT"] == "25432"
    assert env["DBT_TARGET"] == "prod"
    with pytest.raises(DbtError, match="must start with 'dbt'"):
        task_command(settings, {"containerDefinitions": [{"command": ["sh", "-c", "x"]}]})
    with pytest.raises(DbtError, match=r"containerDefinitions\[0\]\.command"):
        task_command(settings, {"family": "x"})


def test_dockerfile_pins_the_dbt_of_the_environment() -> None:
    dockerfile = (DBT_PROJECT / "Dockerfile").read_text()
    assert f"dbt-core=={version('dbt-core')}" in dockerfile
    assert f"dbt-postgres=={version('dbt-postgres')}" in dockerfile
    assert f"dbt-redshift=={version('dbt-redshift')}" in dockerfile
    assert 'CMD ["dbt", "build", "--target", "prod"]' in dockerfile


def _workflow_runs() -> dict[str, list[str]]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return {
        name: [step["run"] for step in job["steps"] if "run" in step]
        for name, job in workflow["jobs"].items()
    }


def test_the_workflow_runs_the_steps_of_just_dbt_ci() -> None:
    runs = _workflow_runs()
    assert f"uv run {CI_SCRIPT} lint" in runs["lint"]
    assert f"uv run {CI_SCRIPT} build" in runs["build"]
    assert f"uv run {CI_SCRIPT} slim prod-state" in runs["slim-ci"]
    assert f"uv run {CI_SCRIPT} deploy" in runs["deploy"]
    calls = [r for job in runs.values() for r in job if CI_SCRIPT in r]
    assert len(calls) == 4, "every dbt step goes through the script"
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML reads the `on:` key as True
    triggers = workflow[True]
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    assert workflow["jobs"]["slim-ci"]["if"] == "github.event_name == 'pull_request'"
    assert "refs/heads/main" in workflow["jobs"]["deploy"]["if"]
    # and `just dbt-ci` calls the same script, whose `all` runs those same steps
    justfile = (PROJECT_ROOT / "justfile").read_text()
    assert f"uv run {CI_SCRIPT} {{{{STEP}}}}" in justfile
    script = (PROJECT_ROOT / CI_SCRIPT).read_text()
    all_steps = script.split("    all)", 1)[1].split(";;", 1)[0]
    for step in ("step_lint", 'run.sh" build', 'run.sh" slim', 'run.sh" deploy'):
        assert step in all_steps


def test_the_workflow_lints_with_the_redshift_dialect_and_dbt_templater() -> None:
    config = (DBT_PROJECT / ".sqlfluff").read_text()
    assert "dialect = redshift" in config and "templater = dbt" in config


def test_the_script_entry_point_names_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--target", "--"]) == 2
    assert "option '--target' needs a value" in capsys.readouterr().err
    assert main(["run", "--colour", "red", "--", "build"]) == 2
    assert "unknown option '--colour'" in capsys.readouterr().err
    assert main(["run", "--target", "qa", "--", "build"]) == 2
    assert "unknown target 'qa'" in capsys.readouterr().err
    assert main(["deploy"]) == 2
    assert capsys.readouterr().err.startswith("usage: python -m sandbox.orchestrate.dbt")


def test_prod_compiles_for_redshift_with_no_warehouse(tmp_path: Path) -> None:
    """Production's target is Redshift: the project parses and compiles on dbt-redshift
    with no server (no relation cache, no introspection), and the marts carry the
    distribution Redshift's materialization renders (`diststyle even`)."""
    import os
    import subprocess

    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DBT_TARGET": "prod",  # WAREHOUSE_TYPE unset: the profile's default, redshift
        "WAREHOUSE_HOST": "lakehouse.example.invalid",
        "WAREHOUSE_PORT": "5439",
        "WAREHOUSE_USER": "dbt",
        "DBT_ENV_SECRET_WAREHOUSE_PASSWORD": "unused",
        "WAREHOUSE_DB": "warehouse",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    argv = [
        *dbt_command(Settings(_env_file=None, home=tmp_path)),
        "compile",
        "--target",
        "prod",
        "--profiles-dir",
        str(DBT_PROJECT),
        "--project-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        "--no-populate-cache",
        "--no-introspect",
    ]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Registered adapter: redshift" in done.stdout
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "redshift"
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    marts = [n for n in models if "marts" in n["fqn"]]
    assert marts and all(n["config"].get("dist") == "even" for n in marts)
    compiled = tmp_path / "target" / "compiled" / "lakehouse"
    for model in models:  # every model's SQL compiled
        assert (compiled / model["original_file_path"]).is_file(), model["name"]


def test_a_deploy_is_never_cancelled_half_way() -> None:
    """A push to main must not cancel the deploy of the push before it between
    RegisterTaskDefinition and UpdateStateMachine: only pull requests cancel older
    runs, and deploys queue in their own group."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    cancel = str(workflow["concurrency"]["cancel-in-progress"])
    assert cancel != "True" and "pull_request" in cancel
    deploy = workflow["jobs"]["deploy"]["concurrency"]
    assert deploy["cancel-in-progress"] is False and "deploy" in deploy["group"]
