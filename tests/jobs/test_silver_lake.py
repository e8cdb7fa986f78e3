"""Silver on the real stack: published whole or not at all, rules that follow the data."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from deltalake import DeltaTable

from sandbox.ingest.dms.task import DmsTask
from sandbox.jobs import fingerprint, gold, publish, silver
from sandbox.jobs.bronze import run_bronze
from sandbox.jobs.gold import run_gold
from sandbox.jobs.layers import gold_path, quarantine_path, silver_path
from sandbox.jobs.quality import DataQualityError
from sandbox.jobs.silver import SILVER_TABLES, commerce, run_silver, runner
from sandbox.jobs.silver import staging as silver_staging
from sandbox.jobs.silver.staging import SilverPublishPending, pending_publishes, staged_runs
from sandbox.platform.services.s3 import remove_prefix, s3_client
from sandbox.platform.session import spark_session
from sandbox.platform.settings import Settings

pytestmark = pytest.mark.slow


def versions(settings: Settings) -> dict[str, int]:
    opts = settings.s3_storage_options()
    out = {}
    for t in SILVER_TABLES:
        for kind, path in (("", silver_path), ("_quarantine/", quarantine_path)):
            uri = path(settings, t.domain, t.name)
            out[f"{kind}{t.name}"] = DeltaTable(uri, storage_options=opts).version()
    return out


def staged_objects(settings: Settings, folder: str) -> list[str]:
    key = folder.split(f"{settings.lake_bucket}/", 1)[1] + "/"
    return [
        o.object_name
        for o in s3_client(settings).list_objects(settings.lake_bucket, key, recursive=True)
    ]


def change_source(settings: Settings, *statements: str) -> None:
    with psycopg.connect(settings.postgres_url(), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
    DmsTask(settings).run()


def silver_built(settings: Settings):
    """Spark, after DMS, bronze and silver ran once on ``settings``; and silver's report."""
    spark = spark_session(settings)
    DmsTask(settings).run()
    run_bronze(spark, settings)
    return spark, run_silver(spark, settings)


def test_a_threshold_breach_leaves_every_silver_table_at_its_version(source: Settings) -> None:
    spark, _ = silver_built(source)
    before = versions(source)
    # Players change (dim_player would be rewritten), then a fifth of the payments get
    # a status nobody declared: fct_payment, the fifth table, breaks its 5% threshold
    # after four tables were already built and checked.
    change_source(
        source,
        "update players set nickname = nickname || '_v2'",
        "update payments set status = 'chargeback' where payment_id % 5 = 0",
    )
    run_bronze(spark, source)
    with pytest.raises(
        DataQualityError,
        match=r"silver commerce\.fct_payment: .*"
        r"accepted_values\(payment_status\): \d+ of \d+ rows",
    ):
        run_silver(spark, source)
    assert versions(source) == before
    assert staged_runs(source) == []  # the staging area is gone too
    dims = spark.read.format("delta").load(silver_path(source, "core", "dim_player"))
    assert dims.where("nickname like '%_v2'").count() == 0


def test_a_new_plan_flows_to_gold_without_quarantine(source: Settings) -> None:
    spark = spark_session(source)
    change_source(
        source,
        "insert into plans (plan_id, name, price_brl, period_months) "
        "values ('weekly', 'Pro Semanal', 6.90, 1)",
        "update subscriptions set plan_id = 'weekly' where subscription_id % 3 = 0",
    )
    run_bronze(spark, source)
    report = run_silver(spark, source)
    assert all(n == 0 for n in report.quarantined.values()), report.quarantined
    checks = {c.rule: c for c in report.checks["dim_player"]}
    assert checks["accepted_values(current_plan_id)"].checked == report.rows["dim_player"]
    run_gold(spark, source)
    opts = source.s3_storage_options()
    revenue = DeltaTable(gold_path(source, "revenue_by_plan_monthly"), storage_options=opts)
    revenue = revenue.to_pyarrow_table()
    plans = set(revenue.column("plan_id").to_pylist())
    assert "weekly" in plans and "none" not in plans


def test_a_crash_during_publish_is_completed_before_gold_reads(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark, _ = silver_built(source)
    before = versions(source)
    change_source(source, "update players set nickname = nickname || '_v2'")
    run_bronze(spark, source)
    real_commit = publish.commit
    committed: list[str] = []

    def crash_after_first_table(settings: Settings, staged) -> None:
        if len(committed) == 2:  # dim_player and its quarantine
            raise KeyboardInterrupt("killed between two table commits")
        committed.append(staged.uri)
        real_commit(settings, staged)

    monkeypatch.setattr(publish, "commit", crash_after_first_table)
    monkeypatch.setattr(publish, "COMMIT_THREADS", 1)  # one commit after the other
    with pytest.raises(KeyboardInterrupt):
        run_silver(spark, source)
    monkeypatch.undo()
    half = versions(source)
    assert half["dim_player"] == before["dim_player"] + 1
    assert half["fct_match"] == before["fct_match"]  # the mix a crash leaves...
    assert len(pending_publishes(source)) == 1
    with pytest.raises(SilverPublishPending, match="run `sandbox run silver`"):
        run_gold(spark, source)  # ...which gold refuses to read
    # A run killed while staging (before its publish began) leaves files behind too.
    killed = silver_staging.SilverStaging(source, run="99990101T000000-killed")
    killed.begin([("core", "dim_player")])
    dims = spark.read.format("delta").load(silver_path(source, "core", "dim_player"))
    left = publish.stage(dims, killed.uris("core", "dim_player")[0], killed.run)
    assert staged_objects(source, left.folder)
    # What the next silver run does first: complete the one, discard the other.
    assert len(silver_staging.recover(source)) == 1
    assert staged_objects(source, left.folder) == []
    after = versions(source)
    # Every table with rows moved on (a table empty before and after gets no commit).
    opts = source.s3_storage_options()
    with_rows = [
        t.name
        for t in SILVER_TABLES
        if DeltaTable(silver_path(source, t.domain, t.name), storage_options=opts).file_uris()
    ]
    assert "dim_player" in with_rows
    assert all(after[name] > before[name] for name in with_rows), (before, after)
    assert staged_runs(source) == []
    dims = spark.read.format("delta").load(silver_path(source, "core", "dim_player"))
    assert dims.where("nickname not like '%_v2'").count() == 0


def test_a_split_publishes_each_part_as_its_own_table(source: Settings) -> None:
    # One write per table computes its rules once; the quarantined part then moves into
    # the quarantine's folder, and readers of either table see only its own columns.
    spark = spark_session(source)
    change_source(
        source,
        "update payments set status = 'chargeback' "
        "where payment_id = (select min(payment_id) from payments)",
    )
    run_bronze(spark, source)
    report = run_silver(spark, source)
    assert report.quarantined["fct_payment"] == 1
    opts = source.s3_storage_options()
    uri = silver_path(source, "commerce", "fct_payment")
    passed = spark.read.format("delta").load(uri)
    assert "_failed_rules" not in passed.columns and "_dq" not in passed.columns
    assert DeltaTable(uri, storage_options=opts).to_pyarrow_table().column_names == passed.columns
    assert passed.where("payment_status = 'chargeback'").count() == 0
    assert passed.count() == report.rows["fct_payment"]
    quarantine_uri = quarantine_path(source, "commerce", "fct_payment")
    rows = spark.read.format("delta").load(quarantine_uri).collect()
    assert [(r["payment_status"], r["_failed_rules"], r["_table"]) for r in rows] == [
        ("chargeback", ["accepted_values(payment_status)"], "fct_payment")
    ]
    table = DeltaTable(quarantine_uri, storage_options=opts)
    assert (
        table.to_pyarrow_table().column_names
        == spark.read.format("delta").load(quarantine_uri).columns
    )
    assert all("_dq=quarantined/" in f for f in table.file_uris())
    assert not [f for f in DeltaTable(uri, storage_options=opts).file_uris() if "quarantined" in f]
    assert not [o for o in staged_objects(source, uri) if "_dq=quarantined/" in o]


def silver_uris(settings: Settings) -> dict[str, str]:
    return {t.name: silver_path(settings, t.domain, t.name) for t in SILVER_TABLES}


def redeclare(monkeypatch: pytest.MonkeyPatch, module, tables: str, name: str, **changes):
    """Replace one declared table of ``module.<tables>`` (as an engineer's edit would)."""
    declared = getattr(module, tables)
    table = next(t for t in declared if t.name == name)
    monkeypatch.setattr(
        module, tables, [replace(t, **changes) if t is table else t for t in declared]
    )
    return table


def test_a_table_whose_code_and_inputs_did_not_change_is_kept(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark, first = silver_built(source)
    assert first.kept == []
    before = versions(source)
    again = run_silver(spark, source)
    # Nothing changed: every table is the published one, with the counts of its publish.
    assert again.kept == [t.name for t in SILVER_TABLES]
    assert versions(source) == before
    assert (again.rows, again.quarantined, again.rules) == (
        first.rows,
        first.quarantined,
        first.rules,
    )
    # An edit of one table's code rebuilds that table only: fct_payment feeds no other.
    payment = redeclare(
        monkeypatch,
        runner,
        "SILVER_TABLES",
        "fct_payment",
        build=lambda b: silver.fct_payment(b["payments"]).where("1 = 1"),
    )
    report = run_silver(spark, source)
    assert report.kept == [t.name for t in SILVER_TABLES if t.name != "fct_payment"]
    after = versions(source)
    assert {k for k in after if after[k] != before[k]} == {"fct_payment", "_quarantine/fct_payment"}
    # A threshold is part of the code too.
    rules = tuple(
        replace(r, threshold=0.5) if r.kind == "accepted_values" else r for r in payment.rules
    )
    redeclare(monkeypatch, runner, "SILVER_TABLES", "fct_payment", rules=rules)
    assert "fct_payment" not in run_silver(spark, source).kept
    monkeypatch.undo()
    # An edit of a domain module's shared code (a new helper in commerce) rebuilds that
    # domain's tables, and no other: none of silver reads a commerce table.
    run_silver(spark, source)
    monkeypatch.setattr(commerce, "_helper", lambda: 1, raising=False)
    rebuilt = {t.name for t in SILVER_TABLES} - set(run_silver(spark, source).kept)
    assert rebuilt == {t.name for t in commerce.TABLES} == {"fct_subscription", "fct_payment"}
    monkeypatch.undo()
    # A commit someone else made (here: every row of fct_match deleted) is not a
    # publish of this code: the table is rebuilt, its readers are not (same rows).
    uri = silver_uris(source)["fct_match"]
    DeltaTable(uri, storage_options=source.s3_storage_options()).delete()
    report = run_silver(spark, source)
    assert "fct_match" not in report.kept and "fct_match_player" in report.kept
    assert spark.read.format("delta").load(uri).count() == first.rows["fct_match"]
    assert run_silver(spark, source, force=True).kept == []


def test_gold_rebuilds_only_the_marts_whose_code_or_inputs_changed(
    source: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    spark, _ = silver_built(source)
    first = run_gold(spark, source)
    opts = source.s3_storage_options()

    def marts() -> dict[str, int]:
        return {
            t.name: DeltaTable(gold_path(source, t.name), storage_options=opts).version()
            for t in gold.GOLD_TABLES
        }

    before = marts()
    assert run_gold(spark, source) == first and marts() == before
    # A silver table rebuilt with other rows: the marts reading it are rebuilt.
    change_source(source, "update payments set amount_brl = amount_brl + 1")
    run_bronze(spark, source)
    # Silver hands the states it read and published on to gold, as one pipeline run
    # does: they are what the lake holds after its publish, so gold needs no reload.
    known: fingerprint.KnownStates = {}
    assert run_silver(spark, source, known=known).kept.count("fct_payment") == 0
    assert silver_uris(source)["fct_payment"] in known
    assert known == fingerprint.table_states(source, known)
    run_gold(spark, source, known=known)
    assert all(gold_path(source, t.name) in known for t in gold.GOLD_TABLES)
    assert known == fingerprint.table_states(source, known)
    after = marts()
    changed = {m for m in after if after[m] != before[m]}
    assert "revenue_by_plan_monthly" in changed and "leaderboard" not in changed
    # An edited mart is rebuilt alone.
    redeclare(
        monkeypatch,
        gold,
        "GOLD_TABLES",
        "leaderboard",
        build=lambda s: gold.leaderboard(s["dim_player"], s["fct_match_player"], top=5),
    )
    assert run_gold(spark, source)["leaderboard"] == 5
    final = marts()
    assert {m for m in final if final[m] != after[m]} == {"leaderboard"}


def test_a_table_state_is_read_from_the_log_and_names_a_recreated_table_apart(
    source: Settings,
) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    uri = f"s3://{source.lake_bucket}/scratch/state"
    opts = source.s3_storage_options()
    assert fingerprint.table_state(source, uri) is None
    for _ in range(3):
        write_deltalake(uri, pa.table({"a": [1]}), mode="append", storage_options=opts)
    table = DeltaTable(uri, storage_options=opts)
    table.create_checkpoint()  # the log is read from the last checkpoint on
    write_deltalake(uri, pa.table({"a": [2]}), mode="append", storage_options=opts)
    state = fingerprint.table_state(source, uri)
    assert state.version == 3 and state.record is None
    remove_prefix(s3_client(source), source.lake_bucket, "scratch/state/")
    write_deltalake(uri, pa.table({"a": [1]}), mode="append", storage_options=opts)
    for _ in range(3):
        write_deltalake(uri, pa.table({"a": [1]}), mode="append", storage_options=opts)
    again = fingerprint.table_state(source, uri)
    assert again.version == 3 and again.identity != state.identity
