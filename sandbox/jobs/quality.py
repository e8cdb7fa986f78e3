"""Data-quality rules, declared once per silver table and applied by one function.

A rule flags rows; flagged rows go to the table's quarantine with the names of the
rules they failed, the rest go on. Every rule has a threshold, the share of checked
rows it may flag: above it the run stops with a ``DataQualityError`` naming the table,
the rule and the row count. A blocking rule is a rule with threshold 0 (any flagged
row stops the run).

Rules that compare against other data name it as ``"<frame>.<column>"``:
``accepted_values`` against reference data (the ``plans`` table), ``relationship``
against the *full* parent table (every row built, quarantined or not), so a parent
row quarantined for an unrelated reason does not drag its children along. A
relationship declared with ``cascade=True`` checks against the parent rows that
passed instead, which quarantines the children of quarantined parents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from sandbox.platform import SandboxError

# The share of rows a rule may quarantine before the run stops, unless the rule says.
RuleKind = Literal["not_null", "unique", "accepted_values", "relationship"]
DEFAULT_THRESHOLD = 0.05


class DataQualityError(SandboxError):
    """A rule flagged more rows than its threshold; names the table, the rule and how many."""


@dataclass(frozen=True)
class Rule:
    """A quality rule on a silver table: its kind, columns, accepted values or reference,
    and the share of rows it may quarantine before the run fails (``threshold``)."""

    name: str
    kind: RuleKind
    columns: tuple[str, ...]
    values: tuple = ()
    ref: str | None = None  # "<frame>.<column>" for accepted_values and relationship
    threshold: float = DEFAULT_THRESHOLD
    cascade: bool = False  # relationship: check against the parent rows that passed

    @property
    def ref_frame(self) -> str | None:
        """The frame this rule looks up, as ``refs`` of ``apply_rules`` must name it."""
        if self.ref is None:
            return None
        frame = self.ref.split(".", 1)[0]
        return f"{frame}:passed" if self.cascade else frame


def _threshold(threshold: float | None, blocking: bool) -> float:
    if blocking:
        return 0.0
    value = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"rule threshold must be a share between 0 and 1, got {value!r}")
    return value


def not_null(column: str, *, blocking: bool = False, threshold: float | None = None) -> Rule:
    return Rule(
        f"not_null({column})", "not_null", (column,), threshold=_threshold(threshold, blocking)
    )


def unique(*columns: str, blocking: bool = False, threshold: float | None = None) -> Rule:
    return Rule(
        f"unique({', '.join(columns)})",
        "unique",
        columns,
        threshold=_threshold(threshold, blocking),
    )


def accepted_values(
    column: str,
    values: tuple | list | None = None,
    *,
    ref: str | None = None,
    blocking: bool = False,
    threshold: float | None = None,
) -> Rule:
    """Every non-null ``column`` is one of ``values`` (a declared enum) or in ``ref``.

    ``ref`` is reference data, ``"<frame>.<column>"`` (e.g. ``"plans.plan_id"``), so a
    value added at the source is accepted without a code change.
    """
    if (values is None) == (ref is None):
        raise ValueError(f"accepted_values({column}): give either values or ref")
    return Rule(
        f"accepted_values({column})",
        "accepted_values",
        (column,),
        tuple(values or ()),
        ref=ref,
        threshold=_threshold(threshold, blocking),
    )


def relationship(
    column: str,
    ref: str,
    *,
    cascade: bool = False,
    blocking: bool = False,
    threshold: float | None = None,
) -> Rule:
    """Every non-null ``column`` exists in ``ref`` (``"<frame>.<column>"``).

    The parent is the full frame; with ``cascade=True`` only its rows that passed.
    """
    return Rule(
        f"relationship({column} -> {ref})",
        "relationship",
        (column,),
        ref=ref,
        cascade=cascade,
        threshold=_threshold(threshold, blocking),
    )


@dataclass
class QualityResult:
    """The split of one table: lazy frames, nothing computed yet."""

    table: str
    rules: list[Rule]
    passed: DataFrame
    quarantined: DataFrame  # the failing rows + `_failed_rules` (array) + `_table`
    # Every row once, as ``quarantined``'s columns (null on passed rows) + ``SPLIT``:
    # written partitioned by ``SPLIT``, the rules are computed once for both parts.
    split: DataFrame


@dataclass(frozen=True)
class RuleCheck:
    """What one rule did in a run: rows checked, rows it flagged, its threshold."""

    table: str
    rule: str
    checked: int
    quarantined: int
    threshold: float

    @property
    def breached(self) -> bool:
        return self.quarantined > self.threshold * self.checked

    def describe(self) -> str:
        share = self.quarantined / self.checked if self.checked else 0.0
        return (
            f"{self.rule}: {self.quarantined} of {self.checked} rows ({share:.2%}), "
            f"threshold {self.threshold * 100:g}%"
        )


def _flag(
    df: DataFrame, rule: Rule, i: int, refs: dict[str, DataFrame]
) -> tuple[DataFrame, Column, list[str]]:
    """``df`` with what the rule looks up joined on, the rule's flag, and the names of
    the columns the join added (dropped again from the split)."""
    col = rule.columns[0]
    if rule.kind == "not_null":
        return df, F.col(col).isNull(), []
    if rule.kind == "accepted_values" and rule.ref is None:
        return df, F.col(col).isNotNull() & ~F.col(col).isin(list(rule.values)), []
    if rule.kind == "unique":
        # The keys seen twice (few), joined back: cheaper than a window over every row,
        # which sorts them. Null-safe, so two rows with a null key are duplicates too.
        hit = f"_dq_dup{i}"
        keys = [f"_dq_k{i}_{j}" for j in range(len(rule.columns))]
        dups = (
            df.groupBy(*rule.columns)
            .agg(F.count(F.lit(1)).alias("_n"))
            .where("_n > 1")
            .select(
                *[F.col(c).alias(k) for c, k in zip(rule.columns, keys, strict=True)],
                F.lit(True).alias(hit),
            )
        )
        on = [df[c].eqNullSafe(dups[k]) for c, k in zip(rule.columns, keys, strict=True)]
        return df.join(dups, on, "left"), F.col(hit).isNotNull(), [*keys, hit]
    if rule.kind in ("relationship", "accepted_values"):
        # A relationship always names its ref; accepted_values without one returned above.
        assert rule.ref is not None
        ref_col = rule.ref.split(".", 1)[1]
        if rule.ref_frame not in refs:
            raise ValueError(f"rule {rule.name}: no frame {rule.ref_frame!r} to look up")
        hit = f"_dq_ref{i}"
        looked_up = refs[rule.ref_frame].select(F.col(ref_col).alias(hit)).distinct()
        joined = df.join(looked_up, df[col] == looked_up[hit], "left")
        return joined, F.col(col).isNotNull() & F.col(hit).isNull(), [hit]
    raise ValueError(f"unknown rule kind {rule.kind!r}")


# The column of ``QualityResult.split`` that says which part a row belongs to.
SPLIT = "_dq"
# What a quarantine adds to its table's columns: the rules a row failed, the table.
QUARANTINE_COLUMNS = ("_failed_rules", "_table")
PASSED_PART, QUARANTINED_PART = "passed", "quarantined"


def apply_rules(
    table: str, df: DataFrame, rules: list[Rule], refs: dict[str, DataFrame] | None = None
) -> QualityResult:
    """Split ``df`` into rows that pass every rule and rows that fail at least one.

    ``refs`` maps each rule's ``ref_frame`` to the frame it looks up. Nothing is
    computed here, not even the columns (an analyze on Spark Connect: 0.1 s); ``check``
    counts.
    """
    refs = refs or {}
    flags, helpers = [], []
    for i, rule in enumerate(rules):
        df, flag, added = _flag(df, rule, i, refs)
        flags.append(F.when(flag, F.lit(rule.name)))
        helpers += added
    failed = F.array_compact(F.array(*flags)) if flags else F.array().cast("array<string>")
    rules_col, table_col = QUARANTINE_COLUMNS
    checked = df.withColumn(rules_col, failed)
    ok = F.size(rules_col) == 0
    # The table's columns in their order, then the quarantine's two, then the part.
    split = (
        (checked.drop(*helpers) if helpers else checked)
        .select(
            "*",
            F.when(~ok, F.lit(table)).alias(table_col),
            F.when(ok, F.lit(PASSED_PART)).otherwise(F.lit(QUARANTINED_PART)).alias(SPLIT),
        )
        .withColumn(rules_col, F.when(~ok, F.col(rules_col)))
    )
    passed = split.where(F.col(SPLIT) == PASSED_PART).drop(*QUARANTINE_COLUMNS, SPLIT)
    quarantined = split.where(F.col(SPLIT) == QUARANTINED_PART).drop(SPLIT)
    return QualityResult(table, list(rules), passed, quarantined, split)


@dataclass(frozen=True)
class TableCheck:
    """The counts of one table's run: rows that passed, rows quarantined, per rule."""

    table: str
    passed: int
    quarantined: int
    rules: list[RuleCheck]

    @property
    def checked(self) -> int:
        return self.passed + self.quarantined


def check(
    result: QualityResult,
    *,
    passed: DataFrame | None = None,
    quarantined: DataFrame | None = None,
) -> TableCheck:
    """Count rows checked and rows flagged per rule of one table (one query).

    Pass the written (staged) frames to count them instead of recomputing the split.
    """
    passed = result.passed if passed is None else passed
    quarantined = result.quarantined if quarantined is None else quarantined
    return check_all([(result, passed, quarantined)])[0]


PASSED, QUARANTINED = "", "_quarantined"  # row labels no rule name can take


def check_all(tables: list[tuple[QualityResult, DataFrame, DataFrame]]) -> list[TableCheck]:
    """The checks of several tables, (result, passed, quarantined) each, in one query.

    One round trip to the engine however many tables and rules: per table, a count of
    the passed rows, of the quarantined rows and of the quarantined rows per rule.
    """
    if not tables:
        return []
    parts = []
    for i, (_, passed, quarantined) in enumerate(tables):
        n = F.count(F.lit(1)).alias("n")
        parts += [
            passed.agg(n).select(F.lit(i).alias("t"), F.lit(PASSED).alias("rule"), "n"),
            quarantined.agg(n).select(F.lit(i).alias("t"), F.lit(QUARANTINED).alias("rule"), "n"),
            quarantined.select(F.explode("_failed_rules").alias("rule"))
            .groupBy("rule")
            .agg(n)
            .select(F.lit(i).alias("t"), "rule", "n"),
        ]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    counts = {(r["t"], r["rule"]): r["n"] for r in union.collect()}
    checks = []
    for i, (result, _, _) in enumerate(tables):
        n_passed, n_quarantined = counts.get((i, PASSED), 0), counts.get((i, QUARANTINED), 0)
        checked = n_passed + n_quarantined
        rules = [
            RuleCheck(result.table, r.name, checked, counts.get((i, r.name), 0), r.threshold)
            for r in result.rules
        ]
        checks.append(TableCheck(result.table, n_passed, n_quarantined, rules))
    return checks


def enforce(label: str, checks: TableCheck) -> None:
    """Raise ``DataQualityError`` naming every rule of ``label`` above its threshold."""
    breached = [c.describe() for c in checks.rules if c.breached]
    if breached:
        raise DataQualityError(
            f"{label}: rule above its threshold, nothing published: " + "; ".join(breached)
        )
