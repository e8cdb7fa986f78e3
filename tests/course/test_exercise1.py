"""Exercise 1's checks on variants of the solution: each mistake gets its own verdict and
message, and right work in another style passes.

The static variants (shape of the module, purity, the task's upstream) run in the
default run; those that run the work (the transform on three lakes, the student's tests
against the planted mistakes, the task on the sample) share one Sail session.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.course import exercise1, exercise1_wiring
from sandbox.course.checks import COURSE_DIR, Check
from sandbox.course.exercise1_product import check_alert, check_retries, check_schedule
from sandbox.course.exercise1_run import check_same_result_as_prototype, check_unit_tests, lab

SOLUTION = COURSE_DIR / "exercise-1" / "solution"
MODULE = "retention.py"
TESTS = "test_retention.py"
WORKFLOW = ".github/workflows/retention.yml"


def variant(tmp_path: Path, *edits: tuple[str, str], file: str = MODULE) -> Path:
    """A copy of the solution with each (old, new) replaced in ``file``."""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(SOLUTION, work, ignore=shutil.ignore_patterns("__pycache__"))
    text = (work / file).read_text()
    for old, new in edits:
        assert old in text, f"the solution no longer has {old!r}: update the case"
        text = text.replace(old, new)
    (work / file).write_text(text)
    return work


def test_the_solution_is_found_pure_and_wired_statically() -> None:
    for check in (exercise1.check_job_module, exercise1.check_transform_is_pure):
        assert check(SOLUTION).passed, check(SOLUTION).message


MISTAKES = {
    # The prototype's habit: a literal path inside the job.
    "hard-coded path": (
        'MART = "retention_by_cohort"',
        'MART = "retention_by_cohort"\nSOURCE = "s3://lake/silver/core/dim_player"',
        exercise1.check_transform_is_pure,
        "hard-codes the path 's3://lake/silver",
    ),
    # Reading inside the transform makes it untestable on inline rows.
    "I/O in the transform": (
        "    cohort = dim_player.select(",
        '    dim_player = dim_player.sparkSession.read.table("x")\n    cohort = dim_player.select(',
        exercise1.check_transform_is_pure,
        "calls table()",
    ),
    # Reading in a helper the transform calls is the same mistake, one call away.
    "I/O in a helper of the transform": (
        "def _month_number(col: str):\n",
        "def _month_number(col: str):\n    load_settings()\n",
        exercise1.check_transform_is_pure,
        "_month_number calls load_settings()",
    ),
    # Without type hints the checker (and a reader) cannot tell the transform.
    "no type hints": (
        ') -> DataFrame:\n    """One row per signup',
        '):\n    """One row per signup',
        exercise1.check_job_module,
        "no function typed DataFrame in",
    ),
    "unknown upstream": (
        '("silver",), run_retention',
        '("silverr",), run_retention',
        exercise1_wiring.check_wired_as_task,
        "depends on ['silverr']",
    ),
    "no upstream": (
        '("silver",), run_retention',
        "(), run_retention",
        exercise1_wiring.check_wired_as_task,
        "has no upstream",
    ),
    # bronze is a known task, but silver may not be built yet when it has run
    "upstream is bronze": (
        '("silver",), run_retention',
        '("bronze",), run_retention',
        exercise1_wiring.check_wired_as_task,
        "can be before silver is built",
    ),
    "module does not import": (
        "from pyspark.sql import DataFrame\n",
        "from pyspark.sql import DataFrame\nimport not_a_module\n",
        exercise1.check_job_module,
        "does not import: ModuleNotFoundError",
    ),
    # A session built at import would hang the checker on an absent server.
    "session at import": (
        'MART = "retention_by_cohort"',
        'MART = "retention_by_cohort"\nfrom pyspark.sql import SparkSession\n'
        'spark = SparkSession.builder.remote("sc://127.0.0.1:1").getOrCreate()',
        exercise1.check_job_module,
        "calls getOrCreate() at import",
    ),
    "syntax error": (
        "def run_retention(",
        "def run_retention(:",
        exercise1.check_job_module,
        "is not valid Python",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_a_mistake_fails_its_check_with_what_to_do(tmp_path: Path, mistake: str) -> None:
    old, new, check, words = MISTAKES[mistake]
    result = check(variant(tmp_path, (old, new)))
    assert not result.passed
    assert words in result.message


def test_a_docstring_naming_the_old_path_is_not_a_hard_coded_path(tmp_path: Path) -> None:
    work = variant(
        tmp_path,
        (
            '    """One row per signup',
            '    """Was s3://lake/gold/retention_by_cohort. One row per signup',
        ),
    )
    assert exercise1.check_transform_is_pure(work).passed


def test_a_public_helper_typed_like_the_transform_is_not_taken_for_it(tmp_path: Path) -> None:
    # alphabetically first, DataFrame -> DataFrame, called by the transform
    work = variant(
        tmp_path,
        (
            "def retention_by_cohort(",
            "def add_cohort_month(dim_player: DataFrame) -> DataFrame:\n"
            '    return dim_player.select("player_id", F.trunc("signup_date", "month")'
            '.alias("cohort_month"))\n\n\ndef retention_by_cohort(',
        ),
        (
            '    cohort = dim_player.select("player_id", F.trunc("signup_date", "month")'
            '.alias("cohort_month"))',
            "    cohort = add_cohort_month(dim_player)",
        ),
    )
    found = exercise1.find_transform(work)
    assert found.name == "retention_by_cohort"


def test_a_state_machine_wires_the_job_too(tmp_path: Path) -> None:
    work = variant(tmp_path, ("TASK = Task(", "_TASK = Task("))
    (work / "retention.asl.json").write_text(
        '{"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "arn:aws:states:::'
        'lambda:invoke", "Parameters": {"Payload": {"task": "retention_by_cohort"}}, "End": true}}}'
    )
    assert exercise1_wiring.check_wired_as_task(work).passed


# -- variants graded by running the work ----------------------------------------------


@pytest.fixture(scope="module")
def session() -> Iterator[None]:
    with lab():
        yield


def _edits(*pairs: str) -> tuple[tuple[str, str], ...]:
    return tuple(zip(pairs[::2], pairs[1::2], strict=True))


# name -> (file, edits, the check, passes?, words of its message)
BEHAVIOUR = {
    # rows repeated by a join: every row the prototype has is there, but 2-4 times
    "a join that fans out": (
        MODULE,
        _edits(
            '        active.join(sizes, "cohort_month")',
            '        active.join(sizes, "cohort_month")'
            '.join(cohort.select("cohort_month"), "cohort_month")',
        ),
        check_same_result_as_prototype,
        False,
        "differs from the prototype on the committed sample",
    ),
    # the sample has no year boundary: only the edge cases tell
    "months that ignore the year": (
        MODULE,
        _edits("    return F.year(col) * 12 + F.month(col)", "    return F.month(col)"),
        check_same_result_as_prototype,
        False,
        "on the edge cases",
    ),
    # the sample's players all sign up before any match: only the edge cases tell
    "activity before the signup kept": (
        MODULE,
        _edits('        .where(F.col("months_since_signup") >= 0)\n', ""),
        check_same_result_as_prototype,
        False,
        "on the edge cases",
    ),
    "cohort sized from the players who played": (
        MODULE,
        _edits(
            '    sizes = cohort.groupBy("cohort_month")',
            '    sizes = cohort.join(fct_match_player.select("player_id").distinct(), "player_id")'
            '.groupBy("cohort_month")',
        ),
        check_same_result_as_prototype,
        False,
        "differs from the prototype",
    ),
    # tests that run the transform and assert nothing: they pass, and catch nothing
    "tests that assert nothing": (
        TESTS,
        _edits(
            "    assert run(spark, players, match_players, matches) == expected",
            "    run(spark, players, match_players, matches)",
        ),
        check_unit_tests,
        False,
        "they catch 0 of 5 planted mistakes",
    ),
    # no year-boundary case: the mutant that ignores the year survives
    "tests without the year boundary": (
        TESTS,
        _edits(
            '    "months count across a year boundary": (',
            '    "_": (',
            "    assert run(spark, players, match_players, matches) == expected",
            '    if case != "_":\n'
            "        assert run(spark, players, match_players, matches) == expected",
        ),
        check_unit_tests,
        False,
        "year boundary",
    ),
    # the transform itself as the task's run: called with a Context, it fails
    "the task runs the transform directly": (
        MODULE,
        _edits('("silver",), run_retention', '("silver",), retention_by_cohort'),
        exercise1_wiring.check_wired_as_task,
        False,
        "fails",
    ),
    "the task writes a silver table to gold": (
        MODULE,
        _edits("    mart.write.format", '    silver("core", "dim_player").write.format'),
        exercise1_wiring.check_wired_as_task,
        False,
        "not the transform's result",
    ),
    "the task reads bronze": (
        MODULE,
        _edits(
            'return spark.read.format("delta").load(silver_path(settings, domain, table))',
            'return spark.read.format("delta").load(settings.lake_uri("bronze", table))',
        ),
        exercise1_wiring.check_wired_as_task,
        False,
        "which is not a silver table",
    ),
    # two days of the schedule leave every row twice
    "the task appends": (
        MODULE,
        _edits(
            'mart.write.format("delta").mode("overwrite")',
            'mart.write.format("delta").mode("append")',
        ),
        exercise1_wiring.check_wired_as_task,
        False,
        "leaves every row twice",
    ),
    # a wrong transform costs the result check, not the task's: the task writes what
    # the transform returns
    "a wrong transform in a right task": (
        MODULE,
        _edits(
            "    cohort = dim_player.select(",
            '    dim_player = dim_player.where(~F.col("is_banned"))\n'
            "    cohort = dim_player.select(",
        ),
        exercise1_wiring.check_wired_as_task,
        True,
        "wrote what the transform returns",
    ),
    # right work in other styles
    "tests that import the module": (
        TESTS,
        _edits(
            "from retention import retention_by_cohort",
            "import retention",
            "    out = retention_by_cohort(",
            "    out = retention.retention_by_cohort(",
        ),
        check_unit_tests,
        True,
        "they catch all 5 planted mistakes",
    ),
    # the same answer in another representation: a double rate, a timestamp month
    "a double rate and date_trunc months": (
        MODULE,
        _edits(
            '.cast(RATE).alias("retention_rate")',
            '.alias("retention_rate")',
            'F.trunc("signup_date", "month")',
            'F.date_trunc("month", "signup_date")',
        ),
        check_same_result_as_prototype,
        True,
        "no more, no fewer",
    ),
    "a transform of another name": (
        MODULE,
        _edits(
            "def retention_by_cohort(",
            "def build_mart(",
            "    mart = retention_by_cohort(",
            "    mart = build_mart(",
        ),
        check_same_result_as_prototype,
        True,
        "no more, no fewer",
    ),
}


@pytest.mark.matrix  # 40 s of Spark and the tests' mutants; CI runs it after the default run
@pytest.mark.parametrize("name", BEHAVIOUR, ids=list(BEHAVIOUR))
def test_what_the_work_does_gives_the_verdict(session, tmp_path: Path, name: str) -> None:
    file, edits, check, passes, words = BEHAVIOUR[name]
    result: Check = check(variant(tmp_path, *edits, file=file))
    assert result.passed is passes, result.message
    assert words in result.message


@pytest.mark.matrix  # 10 s of the tests' mutants; CI runs it after the default run
def test_tests_in_a_tests_folder_are_found_and_graded(session, tmp_path: Path) -> None:
    work = variant(tmp_path)
    (work / "tests").mkdir()
    for name in (TESTS, "conftest.py"):
        (work / name).rename(work / "tests" / name)
    result = check_unit_tests(work)
    assert result.passed, result.message
    assert exercise1.find_transform(work).name == "retention_by_cohort"


def test_a_ci_workflow_on_push_only_fails(tmp_path: Path) -> None:
    work = variant(
        tmp_path, ("on:\n  pull_request:\n", "on:\n  workflow_dispatch:\n"), file=WORKFLOW
    )
    result = exercise1_wiring.check_ci_runs_tests(work)
    assert not result.passed and "pull_request" in result.message


def test_the_prototype_oracle_is_the_notebook_and_every_mutant_differs(session) -> None:
    # The checker's oracle is the start notebook's own cells; the mutants must each
    # differ from it on the edge cases, or a student's tests could not catch them.
    from sandbox.course.exercise1_run import _LAB, result_rows
    from sandbox.course.prototype import MUTANTS, run_prototype

    edge = _LAB.lakes()["edge"]
    base = result_rows(run_prototype(edge))
    assert base
    for mutant in MUTANTS:
        assert result_rows(run_prototype(edge, mutant.name)) != base, mutant.name


CI_VARIANTS = {
    # the base branch's code runs, never the pull request's
    "pull_request_target": (
        ("on:\n  pull_request:\n", "on:\n  pull_request_target:\n"),
        False,
        "runs the base branch's code",
    ),
    # (old, new) in the workflow -> passes?, words
    "pytest only echoed": (
        ("      - run: uv run pytest test_retention.py -q", '      - run: echo "pytest"'),
        False,
        "runs nothing",
    ),
    "pytest that cannot fail": (
        ("uv run pytest test_retention.py -q", "uv run pytest test_retention.py -q || true"),
        False,
        "cannot fail the job",
    ),
    "python -m pytest in a tests folder": (
        ("uv run pytest test_retention.py -q", "uv run python -m pytest tests/ -q"),
        True,
        "runs pytest on pull requests",
    ),
}


@pytest.mark.parametrize("name", CI_VARIANTS, ids=list(CI_VARIANTS))
def test_ci_is_graded_from_the_commands_it_runs(tmp_path: Path, name: str) -> None:
    edit, passes, words = CI_VARIANTS[name]
    result = exercise1_wiring.check_ci_runs_tests(variant(tmp_path, edit, file=WORKFLOW))
    assert result.passed is passes, result.message
    assert words in result.message


# -- productizing: retries, alert and schedule, graded by running the state machine ----

ASL = "retention.asl.json"
TEMPLATE = "template.yaml"
_ASL_TEXT = (SOLUTION / ASL).read_text()
# the solution's Retry block, and the list of errors it retries
RETRY = _ASL_TEXT[_ASL_TEXT.index('      "Retry": [') : _ASL_TEXT.index("\n      ],\n") + 10]
RETRY_ON = RETRY[RETRY.index('"ErrorEquals": [') : RETRY.index("],") + 1]
CATCH = _ASL_TEXT[_ASL_TEXT.index('      "Catch": [') : _ASL_TEXT.index('      "End": true')]
# name -> (file, edits, check, passes?, words). Each check runs the state machine in
# moto's interpreter (the local endpoint's) with a planted Lambda failure.
PRODUCT = {
    "no Retry": (
        ASL,
        _edits(RETRY, ""),
        check_retries,
        False,
        "no second attempt",
    ),
    # States.Timeout does not match a Lambda.ServiceException
    "Retry on the wrong error": (
        ASL,
        _edits(RETRY_ON, '"ErrorEquals": ["States.Timeout"]'),
        check_retries,
        False,
        "no second attempt",
    ),
    "no Catch": (
        ASL,
        _edits(CATCH, ""),
        check_alert,
        False,
        "published nothing",
    ),
    # the alert goes out, but the run ends green: nobody sees it failed
    "a Catch that swallows the failure": (
        ASL,
        _edits('      "Next": "Failed"', '      "End": true'),
        check_alert,
        False,
        "ended SUCCEEDED",
    ),
    "a five-field cron": (
        TEMPLATE,
        _edits("Default: cron(0 7 * * ? *)", "Default: cron(0 7 * * *)"),
        check_schedule,
        False,
        "six fields",
    ),
    "a disabled rule": (
        TEMPLATE,
        _edits("      State: ENABLED", "      State: DISABLED"),
        check_schedule,
        False,
        "is DISABLED",
    ),
    "a rule that targets the Lambda": (
        TEMPLATE,
        _edits(
            "          Arn: !Ref RetentionStateMachine", "          Arn: !Ref RunPipelineTaskArn"
        ),
        check_schedule,
        False,
        "targets none of the template's state machines",
    ),
    "a state machine that is not JSON": (
        ASL,
        _edits('"StartAt"', "StartAt"),
        check_retries,
        False,
        "retention.asl.json:3 is not valid JSON",
    ),
    # AWS refuses this definition at CreateStateMachine: so does the interpreter
    "States.ALL beside other errors": (
        ASL,
        _edits('"Lambda.ServiceException",', '"States.ALL",'),
        check_retries,
        False,
        "States.ALL must appear alone",
    ),
    "a state machine for another task": (
        ASL,
        _edits('"Payload": {"task": "retention_by_cohort"}', '"Payload": {"task": "retention"}'),
        check_retries,
        False,
        "no state machine runs task 'retention_by_cohort'",
    ),
    # right work in other styles
    "Retry on States.ALL": (
        ASL,
        _edits(RETRY_ON, '"ErrorEquals": ["States.ALL"]'),
        check_retries,
        True,
        "was retried",
    ),
    "Retry on States.TaskFailed": (
        ASL,
        _edits(RETRY_ON, '"ErrorEquals": ["States.TaskFailed"]'),
        check_retries,
        True,
        "was retried",
    ),
    # a Task state naming the function as its Resource: its Parameters are the event
    "a plain function ARN as the Resource": (
        ASL,
        _edits(
            '"Resource": "arn:aws:states:::lambda:invoke",\n      "Parameters": {\n'
            '        "FunctionName": "${RunPipelineTaskArn}",\n'
            '        "Payload": {"task": "retention_by_cohort"}\n      },',
            '"Resource": "${RunPipelineTaskArn}",\n'
            '      "Parameters": {"task": "retention_by_cohort"},',
        ),
        check_retries,
        True,
        "was retried",
    ),
    # the Catch calls a notifier Lambda instead of publishing to SNS itself
    "an alert through a notifier Lambda": (
        ASL,
        _edits(
            '"Resource": "arn:aws:states:::sns:publish",\n      "Parameters": {\n'
            '        "TopicArn": "${FailureTopicArn}",',
            '"Resource": "arn:aws:states:::lambda:invoke",\n      "Parameters": {\n'
            '        "FunctionName": "${NotifyFailureArn}",',
            '"Message.$": "$.failure"',
            '"Payload.$": "$.failure"',
        ),
        check_alert,
        True,
        "published an alert",
    ),
    "EventBridge Scheduler at a rate": (
        TEMPLATE,
        _edits(
            "    Type: AWS::Events::Rule\n",
            "    Type: AWS::Scheduler::Schedule\n",
            "      ScheduleExpression: !Ref Schedule\n",
            "      ScheduleExpression: rate(1 day)\n      FlexibleTimeWindow: {Mode: 'OFF'}\n",
            "      Targets:\n        - Id: retention\n          Arn:",
            "      Target:\n          Arn:",
        ),
        check_schedule,
        True,
        "rate(1 day)",
    ),
}


@pytest.mark.matrix  # 30 s of state machine runs; CI runs it after the default run
@pytest.mark.parametrize("name", PRODUCT, ids=list(PRODUCT))
def test_productizing_is_graded_by_running_the_state_machine(
    session, tmp_path: Path, name: str
) -> None:
    file, edits, check, passes, words = PRODUCT[name]
    result: Check = check(variant(tmp_path, *edits, file=file))
    assert result.passed is passes, result.message
    assert words in result.message


@pytest.mark.matrix  # a state machine run; CI runs it after the default run
def test_an_alert_by_an_eventbridge_rule_on_the_execution_status_counts(
    session, tmp_path: Path
) -> None:
    # no Catch: the execution fails, and a rule on its status change tells the topic
    work = variant(tmp_path, (CATCH, ""), file=ASL)
    template = (work / TEMPLATE).read_text()
    (work / TEMPLATE).write_text(
        template
        + """
  RetentionFailed:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.states]
        detail-type: [Step Functions Execution Status Change]
        detail:
          status: [FAILED, TIMED_OUT, ABORTED]
          stateMachineArn: [!Ref RetentionStateMachine]
      Targets:
        - Id: alert
          Arn: !Ref FailureTopicArn
"""
    )
    result = check_alert(work)
    assert result.passed, result.message
    assert "template.yaml (RetentionFailed) sends the failure to SNS" in result.message
    # the rule on events is not taken for a schedule
    assert check_schedule(work).passed


@pytest.mark.matrix  # SAM's own schedule event; read, not run
def test_a_sam_state_machine_with_a_schedule_event_counts(tmp_path: Path) -> None:
    work = variant(tmp_path)
    (work / TEMPLATE).write_text(
        """Transform: AWS::Serverless-2016-10-31
Resources:
  Retention:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: retention.asl.json
      Events:
        Daily:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 7 * * ? *)
"""
    )
    result = check_schedule(work)
    assert result.passed, result.message
    assert "Retention.Daily" in result.message


def test_the_solution_template_passes_cfn_lint() -> None:
    import subprocess
    import sys

    lint = Path(sys.executable).parent / "cfn-lint"
    done = subprocess.run([str(lint), str(SOLUTION / TEMPLATE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


RIGHT_DAG = '''"""retention_by_cohort on Airflow: daily, retried, failures told."""

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from alerts import notify_failure


def _run() -> None:
    from sandbox.orchestrate.pipeline import run_pipeline

    run_pipeline(["retention_by_cohort"])


with DAG(
    "retention_by_cohort",
    schedule="0 7 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        "on_failure_callback": notify_failure,
    },
) as dag:
    PythonOperator(task_id="retention_by_cohort", python_callable=_run)
'''


@pytest.mark.slow
@pytest.mark.matrix  # two real `airflow dags test` runs per grading, 40 s each
@pytest.mark.parametrize("right", [True, False], ids=["productized DAG", "bare DAG"])
def test_productizing_in_an_airflow_dag_is_graded_by_real_airflow(
    session, tmp_path: Path, right: bool
) -> None:
    pytest.importorskip("airflow", reason="needs the airflow dependency group (`uv sync`)")
    work = variant(tmp_path)
    for name in (ASL, TEMPLATE):
        (work / name).unlink()
    dag = RIGHT_DAG
    if not right:  # no retries, no callback, no schedule
        dag = dag.replace('schedule="0 7 * * *"', "schedule=None").replace(
            '"retries": 2', '"retries": 0'
        )
        dag = dag.replace('        "on_failure_callback": notify_failure,\n', "")
    (work / "retention_dag.py").write_text(dag)
    checks = {c.__name__: c(work) for c in (check_retries, check_alert, check_schedule)}
    if right:
        assert all(c.passed for c in checks.values()), [c.message for c in checks.values()]
        assert "retried by Airflow (retries=2, retry_delay 300 s" in checks["check_retries"].message
        assert "called the task's on_failure_callback" in checks["check_alert"].message
        assert "0 7 * * *" in checks["check_schedule"].message
    else:
        assert not any(c.passed for c in checks.values())
        assert "retries=0" in checks["check_retries"].message
        assert "told no one" in checks["check_alert"].message
        assert "no periodic schedule" in checks["check_schedule"].message
    # the DAG file is Airflow's to load: the checker never imports it
    assert exercise1.find_transform(work).name == "retention_by_cohort"


ONE_CASE_IN_A_MODULE_FIXTURE = '''"""One case, computed once per module."""

from datetime import date

import pytest
from retention import retention_by_cohort


@pytest.fixture(scope="module")
def rows(spark):
    players = spark.createDataFrame([(1, date(2026, 2, 1))], "player_id bigint, signup_date date")
    plays = spark.createDataFrame([(10, 1), (11, 1)], "match_id bigint, player_id bigint")
    matches = spark.createDataFrame(
        [(10, date(2026, 2, 3)), (11, date(2026, 2, 4))], "match_id bigint, match_date date"
    )
    return [tuple(r) for r in retention_by_cohort(players, plays, matches).collect()]


def test_two_matches_in_a_month_count_once(rows) -> None:
    # one player, two matches in February: one active player, not two
    assert [r[3] for r in rows] == [1]
'''


@pytest.mark.matrix  # the tests' mutants run: 10 s
def test_a_module_scoped_result_is_recomputed_for_each_planted_mistake(
    session, tmp_path: Path
) -> None:
    # Reused from the first mutant's run, such a fixture would make every later
    # mutant look caught: the grade must see one catch of five.
    work = variant(tmp_path)
    (work / TESTS).write_text(ONE_CASE_IN_A_MODULE_FIXTURE)
    result = check_unit_tests(work)
    assert not result.passed
    assert "they catch 1 of 5 planted mistakes" in result.message, result.message


def test_numbers_round_half_up_as_the_prototype_cast_does() -> None:
    from decimal import Decimal

    from sandbox.course.exercise1_run import _plain

    # 1 of 32: the prototype's decimal(6,4) says 0.0313; round() would say 0.0312
    assert _plain(1 / 32) == _plain(Decimal("0.0313")) == "0.0313"
    assert _plain(0.5) == _plain(Decimal("0.5000"))
