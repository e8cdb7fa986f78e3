"""The silver job: build the domains' tables in waves, check, stage, publish all or none.

Tables are declared by their domain modules (``core``, ``commerce``, ``events``);
``SILVER_TABLES`` is all of them in order. A table is rebuilt when its fingerprint
changes: its own code and its domain module's shared code, this runner's shared code,
and what it reads, so an edit in one domain rebuilds that domain's tables (and what
reads them) only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from sandbox.ingest.events import STREAMS
from sandbox.jobs import publish
from sandbox.jobs import quality as q
from sandbox.jobs.fingerprint import (
    Inputs,
    KnownStates,
    TableState,
    code_digest,
    digest,
    record_matches,
    shared_digest,
    stable_repr,
    table_states,
)
from sandbox.jobs.layers import SOURCE_KEYS, bronze_events_path, bronze_path, read_delta
from sandbox.jobs.publish import StagedTable
from sandbox.jobs.silver import commerce, core, events
from sandbox.jobs.silver.staging import SilverStaging, recover
from sandbox.jobs.silver.table import SilverTable
from sandbox.platform import Progress, Settings

# Every silver table, domain by domain; each domain module declares its own.
DOMAINS = (core, commerce, events)
SILVER_TABLES: list[SilverTable] = [t for domain in DOMAINS for t in domain.TABLES]


@dataclass
class SilverReport:
    """What a silver run did, per table: rows published and quarantined, rows each
    rule flagged (with its checks), and the tables kept as they were."""

    rows: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    rules: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> rule -> flagged
    checks: dict[str, list[q.RuleCheck]] = field(default_factory=dict)  # + checked, threshold
    kept: list[str] = field(default_factory=list)  # tables unchanged, kept as published

    def add(self, check: q.TableCheck) -> None:
        self.checks[check.table] = check.rules
        self.rules[check.table] = {c.rule: c.quarantined for c in check.rules}
        self.rows[check.table] = check.passed
        self.quarantined[check.table] = check.quarantined


@dataclass
class Staged:
    """A table's split as written somewhere downstream tables can read it back from."""

    passed: DataFrame
    quarantined: DataFrame


# Stages a wave of tables (each table's split) and returns them read back, in order.
StageWave = Callable[[list[tuple["SilverTable", q.QualityResult]]], list[Staged]]


class _NotBuiltYet(KeyError):
    """A table asked for a silver table of the same wave."""


class _Frames(Inputs):
    """The frames built so far; asking for a silver table still to build raises."""

    def __init__(self, frames: dict[str, DataFrame], pending: set[str]) -> None:
        super().__init__(frames)
        self.pending = pending

    def __getitem__(self, name: str) -> DataFrame:
        if name in self.pending:
            raise _NotBuiltYet(name)
        return super().__getitem__(name)


def bronze_sources(settings: Settings) -> dict[str, list[str]]:
    """Each bronze frame silver reads, by name, with the Delta tables it is read from
    (``events`` is the union of every event stream's table that exists)."""
    schema = settings.dms.source_schema
    sources = {t: [bronze_path(settings, schema, t)] for t in SOURCE_KEYS}
    sources["events"] = [bronze_events_path(settings, s) for s in STREAMS]
    return sources


def read_bronze(
    spark: SparkSession, settings: Settings, states: dict[str, TableState | None] | None = None
) -> dict[str, DataFrame]:
    """The bronze frames, each table at the version of ``states`` (loaded if not given:
    a run fingerprints what it read)."""
    sources = bronze_sources(settings)
    if states is None:
        states = table_states(settings, [u for uris in sources.values() for u in uris])
    frames = {
        name: read_delta(spark, uris[0], states.get(uris[0]))
        for name, uris in sources.items()
        if name != "events"
    }
    present = [u for u in sources["events"] if states.get(u) is not None]
    if present:
        events = read_delta(spark, present[0], states[present[0]])
        for uri in present[1:]:
            events = events.unionByName(read_delta(spark, uri, states[uri]))
    else:
        events = spark.createDataFrame(
            [],
            "event_id string, event_type string, event_time timestamp, event_date date, "
            "payload string, sns_message_id string",
        )
    frames["events"] = events
    return frames


def _refs(table: SilverTable, passed: dict, full: dict) -> dict[str, DataFrame]:
    refs: dict[str, DataFrame] = {}
    for rule in table.rules:
        if rule.ref_frame is not None:
            assert rule.ref is not None  # ref_frame is derived from ref
            frame = rule.ref.split(".", 1)[0]
            refs[rule.ref_frame] = (passed if rule.cascade else full)[frame]
    return refs


@dataclass
class Published:
    """A table kept as published: its code and inputs are those of its last publish."""

    tables: Staged
    check: q.TableCheck
    run: str


# Whether a table (given the names of the frames it reads) is kept as published.
KeepPublished = Callable[[SilverTable, set[str]], Published | None]


def build_silver(
    bronze: dict[str, DataFrame],
    *,
    stage: StageWave | None = None,
    progress: Progress | None = None,
    keep: KeepPublished | None = None,
) -> tuple[dict[str, DataFrame], SilverReport]:
    """Build and check every silver table from bronze frames; publish nothing.

    Tables are built in waves: a wave is every table whose inputs (the frames its
    build and its rules read) are built, so a wave's tables are written side by side.
    ``stage`` writes a wave's splits where later tables read them back (a staging
    area, never the published tables); without it everything stays lazy, which is how
    tests call it. A wave's rules are counted in one query right after it is staged,
    and ``DataQualityError`` is raised at its first table with a rule above its
    threshold, before any later wave is built. ``keep`` is asked about every table
    before it is built: what it returns is used as the table (the published one, whose
    code and inputs did not change). Returns the passed frames by name.
    """
    passed = dict(bronze)
    full = dict(bronze)  # relationship rules look up every built row, not only the passed
    report = SilverReport()
    remaining = list(SILVER_TABLES)
    while remaining:
        pending = {t.name for t in remaining}
        wave: list[tuple[SilverTable, q.QualityResult]] = []
        kept: list[tuple[SilverTable, Published]] = []
        for table in remaining:
            frames, fulls = _Frames(passed, pending), _Frames(full, pending)
            try:
                df = table.build(frames)
                refs = _refs(table, frames, fulls)
            except _NotBuiltYet:
                continue  # in a later wave
            published = keep(table, frames.read | fulls.read) if keep else None
            if published is not None:
                kept.append((table, published))
            else:
                wave.append((table, q.apply_rules(table.name, df, list(table.rules), refs)))
        if not wave and not kept:
            raise ValueError(f"silver: {sorted(pending)} read each other in a cycle")
        for table, published in kept:
            tables, check = published.tables, published.check
            passed[table.name] = tables.passed
            full[table.name] = tables.passed.unionByName(
                tables.quarantined.drop(*q.QUARANTINE_COLUMNS)
            )
            report.add(check)
            report.kept.append(table.name)
            if progress:
                progress(
                    f"{table.label}: unchanged since run {published.run} (same code and "
                    f"inputs), {check.passed} rows, {check.quarantined} quarantined"
                )
        remaining = [t for t in remaining if t.name not in {k.name for k, _ in kept}]
        if not wave:
            continue
        staged = stage(wave) if stage else [Staged(r.passed, r.quarantined) for _, r in wave]
        checks = q.check_all(
            [(r, s.passed, s.quarantined) for (_, r), s in zip(wave, staged, strict=True)]
        )
        for (table, _), split, check in zip(wave, staged, checks, strict=True):
            passed[table.name] = split.passed
            full[table.name] = split.passed.unionByName(
                split.quarantined.drop(*q.QUARANTINE_COLUMNS)
            )
            report.add(check)
            if progress:
                progress(
                    f"{table.label}: {check.checked} rows checked, "
                    f"{check.quarantined} quarantined; "
                    + ", ".join(
                        f"{c.rule} {c.quarantined} (max {c.threshold * 100:g}%)"
                        for c in check.rules
                    )
                )
        for (table, _), check in zip(wave, checks, strict=True):
            q.enforce(table.label, check)
        built = {t.name for t, _ in wave}
        remaining = [t for t in remaining if t.name not in built]
    return passed, report


# Tables of a wave staged at once (each one Spark write of its split).
STAGE_THREADS = 4


def split_schemas(result: q.QualityResult) -> tuple[StructType, StructType]:
    """The passed table's and the quarantine's schemas, from the split's (one engine call)."""
    fields = [f for f in result.split.schema.fields if f.name != q.SPLIT]
    table = [f for f in fields if f.name not in q.QUARANTINE_COLUMNS]
    return StructType(table), StructType(fields)


def shared_digests() -> tuple[str, dict[str, str]]:
    """The code every silver table shares (this runner and what it uses, the domain
    modules aside), and each domain module's code its tables share (by module name)."""
    domains = {d.__name__ for d in DOMAINS}
    shared = shared_digest(sys.modules[__name__], "SILVER_TABLES", exclude=domains)
    return shared, {d.__name__: shared_digest(d, "TABLES") for d in DOMAINS}


def table_code(table: SilverTable) -> str:
    """A table's own code: its build, what that reaches in its module, and its rules."""
    module = sys.modules[table.build.__module__]
    return digest(code_digest(table.build, module), stable_repr(table.rules))


def run_silver(
    spark: SparkSession,
    settings: Settings,
    progress: Progress | None = None,
    *,
    force: bool = False,
    known: KnownStates | None = None,
) -> SilverReport:
    """Rebuild silver from bronze on the lake: every table published, or none.

    First completes any publish a crash interrupted. A table whose fingerprint (its
    code, silver's shared code, the versions of what it reads: ``fingerprint``) is
    that of its published version is kept as published, unless ``force``. Every other
    table and its quarantine is staged and checked; a rule above its threshold raises
    ``DataQualityError`` (naming table, rule, row count) and leaves every published
    silver table at its previous Delta version. Only then are all staged tables
    published, each by one Delta commit onto its staged files, which records the
    table's fingerprint and counts.

    ``known``: the table states of the pipeline run so far (see ``table_states``); the
    states this run reads and publishes are added to it.
    """
    recover(settings, progress)
    known = {} if known is None else known
    area = SilverStaging(settings)
    sources = bronze_sources(settings)
    outputs = {t.name: area.uris(t.domain, t.name) for t in SILVER_TABLES}
    states = table_states(
        settings,
        [
            *(u for uris in sources.values() for u in uris),
            *(u for pair in outputs.values() for u in pair),
        ],
        known,
    )
    inputs = {
        name: [state.identity for u in uris if (state := states[u]) is not None]
        for name, uris in sources.items()
    }
    shared, shared_by = shared_digests()
    fingerprints: dict[str, str] = {}

    def keep(table: SilverTable, reads: set[str]) -> Published | None:
        fingerprints[table.name] = digest(
            shared,
            shared_by.get(table.build.__module__, ""),
            settings.profile,
            table.domain,
            table.name,
            table_code(table),
            {name: fingerprints.get(name) or inputs[name] for name in sorted(reads)},
        )
        if force:
            return None
        uri, quarantine_uri = outputs[table.name]
        state, quarantine = states[uri], states[quarantine_uri]
        if not (
            record_matches(state, fingerprints[table.name])
            and record_matches(quarantine, fingerprints[table.name])
        ):
            return None
        assert state is not None and state.record is not None  # record_matches checked both
        record = state.record
        checked = record["passed"] + record["quarantined"]
        rules = [
            q.RuleCheck(table.name, r.name, checked, record["rules"].get(r.name, 0), r.threshold)
            for r in table.rules
        ]
        return Published(
            Staged(read_delta(spark, uri, state), read_delta(spark, quarantine_uri, quarantine)),
            q.TableCheck(table.name, record["passed"], record["quarantined"], rules),
            record["run"],
        )

    staged: dict[str, list[StagedTable]] = {}

    def stage_one(item: tuple[SilverTable, q.QualityResult]) -> list[StagedTable]:
        table, result = item
        uri, quarantine_uri = outputs[table.name]

        def schemas() -> dict[str, str]:
            passed, quarantined = split_schemas(result)
            return {q.PASSED_PART: passed.json(), q.QUARANTINED_PART: quarantined.json()}

        return publish.stage_parts(
            settings,
            result.split,
            q.SPLIT,
            {q.PASSED_PART: uri, q.QUARANTINED_PART: quarantine_uri},
            area.run,
            schemas,
        )

    def stage(wave: list[tuple[SilverTable, q.QualityResult]]) -> list[Staged]:
        if not staged:  # the run's first staging: record where it writes
            area.begin([(t.domain, t.name) for t in SILVER_TABLES])
        # A wave's tables side by side: Spark runs the writes at once.
        with ThreadPoolExecutor(STAGE_THREADS) as pool:
            written = list(pool.map(stage_one, wave))
        for (table, _), parts in zip(wave, written, strict=True):
            staged[table.name] = parts
        return [Staged(p.read(spark), qr.read(spark)) for p, qr in written]

    try:
        _, report = build_silver(
            read_bronze(spark, settings, states), stage=stage, progress=progress, keep=keep
        )
    except BaseException:
        if staged:
            area.discard()
        raise
    if not staged:
        if progress:
            progress("silver: every table unchanged, nothing to publish (--force rebuilds)")
        return report
    records = [
        replace(
            part,
            record={
                "fingerprint": fingerprints[name],
                "run": area.run,
                "passed": report.rows[name],
                "quarantined": report.quarantined[name],
                "rules": report.rules[name],
            },
        )
        for name, parts in staged.items()
        for part in parts
    ]
    # From here a crash is rolled forward by the next run's ``recover``.
    known.update(area.publish(records, progress))
    return report
