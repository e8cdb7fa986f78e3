"""Silver's core domain: the conformed player dimension and the matches.

Accepted values are silver's contract with the source, declared here: a value the
source starts sending that is not in them lands in the quarantine, where it is seen,
rather than passing because the check was derived from the source's own code.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sandbox.jobs import quality as q
from sandbox.jobs.silver.table import SilverTable

# The skill tiers the platform defines, lowest first.
SKILL_TIERS = ("bronze", "silver", "gold", "platinum", "diamond", "master")
# Teams of a match; a match with no winner has none.
WINNING_TEAMS = (1, 2)


def dim_player(players: DataFrame, subscriptions: DataFrame) -> DataFrame:
    """The conformed player dimension: one row per player, with subscription status."""
    active = (
        subscriptions.where(F.col("status") == "active")
        .groupBy("player_id")
        .agg(F.max_by("plan_id", "started_at").alias("current_plan_id"))
    )
    return players.join(active, "player_id", "left").select(
        F.col("player_id"),
        F.trim("nickname").alias("nickname"),
        F.lower(F.trim("email")).alias("email"),
        F.upper("country").alias("country_code"),
        F.col("skill_tier"),
        F.col("mmr"),
        F.col("is_banned"),
        F.col("current_plan_id"),
        F.col("current_plan_id").isNotNull().alias("is_subscriber"),
        F.to_date("created_at").alias("signup_date"),
        F.col("created_at"),
        F.col("updated_at"),
    )


def fct_match(matches: DataFrame, lobbies: DataFrame) -> DataFrame:
    """One row per match, with its lobby's region and host and its duration."""
    lob = lobbies.select("lobby_id", "region", F.col("host_player_id"))
    return matches.join(lob, "lobby_id", "left").select(
        "match_id",
        "lobby_id",
        "host_player_id",
        F.col("map").alias("map_name"),
        F.col("mode").alias("game_mode"),
        "region",
        "started_at",
        "ended_at",
        F.to_date("started_at").alias("match_date"),
        (F.unix_timestamp("ended_at") - F.unix_timestamp("started_at"))
        .cast("int")
        .alias("duration_s"),
        F.col("winning_team").cast("int").alias("winning_team"),
    )


def fct_match_player(match_players: DataFrame) -> DataFrame:
    """One row per player in a match, with the player's KDA ((kills + assists) / deaths)."""
    return match_players.select(
        "match_id",
        "player_id",
        F.col("team").cast("int").alias("team"),
        "kills",
        "deaths",
        "assists",
        "score",
        F.col("won"),
        ((F.col("kills") + F.col("assists")) / F.greatest(F.col("deaths"), F.lit(1)))
        .cast("decimal(8,3)")
        .alias("kda"),
    )


TABLES: list[SilverTable] = [
    SilverTable(
        "core",
        "dim_player",
        lambda b: dim_player(b["players"], b["subscriptions"]),
        (
            q.not_null("player_id", blocking=True),
            q.unique("player_id", blocking=True),
            q.not_null("nickname"),
            q.accepted_values("skill_tier", SKILL_TIERS),
            q.accepted_values("current_plan_id", ref="plans.plan_id"),
        ),
    ),
    SilverTable(
        "core",
        "fct_match",
        lambda b: fct_match(b["matches"], b["lobbies"]),
        (
            q.not_null("match_id", blocking=True),
            q.unique("match_id", blocking=True),
            q.accepted_values("winning_team", WINNING_TEAMS),
        ),
    ),
    SilverTable(
        "core",
        "fct_match_player",
        lambda b: fct_match_player(b["match_players"]),
        (
            q.unique("match_id", "player_id", blocking=True),
            q.relationship("player_id", "dim_player.player_id"),
            q.relationship("match_id", "fct_match.match_id"),
        ),
    ),
]
