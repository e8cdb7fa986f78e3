"""Data-quality rules, declared once per silver table and applied by one function.

A rule flags rows; flagged rows go to the table's quarantine with the names of the
rules they failed, the rest go on. Counts per rule are recorded for the run report.
A blocking rule that flags anything stops the run with a ``DataQualityError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from sandbox.services.base import SandboxError


class DataQualityError(SandboxError):
    """A blocking rule failed; names the table, the rule and how many rows."""


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str  # not_null | unique | accepted_values | relationship
    columns: tuple[str, ...]
    values: tuple = ()
    ref: str | None = None  # relationship: "<frame name>.<column>"
    blocking: bool = False


def not_null(column: str, *, blocking: bool = False) -> Rule:
    return Rule(f"not_null({column})", "not_null", (column,), blocking=blocking)


def unique(*columns: str, blocking: bool = False) -> Rule:
    return Rule(f"unique({', '.join(columns)})", "unique", columns, blocking=blocking)


def accepted_values(column: str, values: list, *, blocking: bool = False) -> Rule:
    return Rule(f"accepted_values({column})", "accepted_values", (column,), tuple(values),
                blocking=blocking)  # fmt: skip


def relationship(column: str, ref: str, *, blocking: bool = False) -> Rule:
    """Every non-null ``column`` exists in ``ref`` (``"<frame>.<column>"``)."""
    return Rule(f"relationship({column} -> {ref})", "relationship", (column,), ref=ref,
                blocking=blocking)  # fmt: skip


@dataclass
class QualityResult:
    table: str
    passed: DataFrame
    quarantined: DataFrame  # the failing rows + `_failed_rules` (array) + `_table`
    counts: dict[str, int] = field(default_factory=dict)  # rule -> rows flagged
    blocking_failures: list[str] = field(default_factory=list)


def _flag(
    df: DataFrame, rule: Rule, i: int, refs: dict[str, DataFrame]
) -> tuple[DataFrame, Column]:
    col = rule.columns[0]
    if rule.kind == "not_null":
        return df, F.col(col).isNull()
    if rule.kind == "accepted_values":
        return df, F.col(col).isNotNull() & ~F.col(col).isin(list(rule.values))
    if rule.kind == "unique":
        n = f"_dq_n{i}"
        w = Window.partitionBy(*rule.columns)
        return df.withColumn(n, F.count(F.lit(1)).over(w)), F.col(n) > 1
    if rule.kind == "relationship":
        frame, ref_col = rule.ref.split(".", 1)
        hit = f"_dq_ref{i}"
        keys = refs[frame].select(F.col(ref_col).alias(hit)).distinct()
        joined = df.join(keys, df[col] == keys[hit], "left")
        return joined, F.col(col).isNotNull() & F.col(hit).isNull()
    raise ValueError(f"unknown rule kind {rule.kind!r}")


def apply_rules(
    table: str, df: DataFrame, rules: list[Rule], refs: dict[str, DataFrame] | None = None
) -> QualityResult:
    """Split ``df`` into rows that pass every rule and rows that fail at least one."""
    refs = refs or {}
    columns = df.columns
    flags = []
    for i, rule in enumerate(rules):
        df, flag = _flag(df, rule, i, refs)
        flags.append(F.when(flag, F.lit(rule.name)))
    failed = F.array_compact(F.array(*flags)) if flags else F.array().cast("array<string>")
    checked = df.withColumn("_failed_rules", failed)
    passed = checked.where(F.size("_failed_rules") == 0).select(*columns)
    quarantined = checked.where(F.size("_failed_rules") > 0).select(
        *columns, "_failed_rules", F.lit(table).alias("_table")
    )
    counts = {r.name: 0 for r in rules}
    for row in (
        quarantined.select(F.explode("_failed_rules").alias("rule"))
        .groupBy("rule")
        .count()
        .collect()
    ):
        counts[row["rule"]] = row["count"]
    blocking = [f"{r.name}: {counts[r.name]} rows" for r in rules if r.blocking and counts[r.name]]
    return QualityResult(table, passed, quarantined, counts, blocking)
