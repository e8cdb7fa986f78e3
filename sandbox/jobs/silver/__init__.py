"""Silver: curated, standardized, governed tables in business domains.

Standard names (snake_case), UTC timestamps, decimals for BRL, one conformed player
dimension, and events joined to their players and matches. One module per domain
(``core``, ``commerce``, ``events``) holds that domain's transforms, its accepted
values (silver's contract with the source) and its table declarations, each with its
quality rules; failing rows go to ``_quarantine`` with the rules they broke. The runner
(``runner``) builds the tables in waves and publishes them whole: every table is
staged and checked before any published table changes (``staging``).
"""

from sandbox.jobs.silver.commerce import (
    PAYMENT_METHODS,
    PAYMENT_STATUSES,
    SUBSCRIPTION_STATUSES,
    fct_payment,
    fct_subscription,
)
from sandbox.jobs.silver.core import (
    SKILL_TIERS,
    WINNING_TEAMS,
    dim_player,
    fct_match,
    fct_match_player,
)
from sandbox.jobs.silver.events import EVENT_TYPES, player_events
from sandbox.jobs.silver.runner import (
    SILVER_TABLES,
    STAGE_THREADS,
    SilverReport,
    Staged,
    bronze_sources,
    build_silver,
    read_bronze,
    run_silver,
    split_schemas,
)
from sandbox.jobs.silver.staging import SilverPublishPending, pending_publishes, recover
from sandbox.jobs.silver.table import SilverTable

__all__ = [
    "EVENT_TYPES",
    "PAYMENT_METHODS",
    "PAYMENT_STATUSES",
    "SILVER_TABLES",
    "SKILL_TIERS",
    "STAGE_THREADS",
    "SUBSCRIPTION_STATUSES",
    "WINNING_TEAMS",
    "SilverPublishPending",
    "SilverReport",
    "SilverTable",
    "Staged",
    "bronze_sources",
    "build_silver",
    "dim_player",
    "fct_match",
    "fct_match_player",
    "fct_payment",
    "fct_subscription",
    "pending_publishes",
    "player_events",
    "read_bronze",
    "recover",
    "run_silver",
    "split_schemas",
]
