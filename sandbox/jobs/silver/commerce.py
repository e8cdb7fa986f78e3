"""Silver's commerce domain: subscriptions and payments, in BRL.

Accepted values are silver's contract with the source, declared here; plans are not:
they are reference data in the source (the ``plans`` table), so plan ids are checked
against bronze ``plans`` and a new plan is accepted.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sandbox.jobs import quality as q
from sandbox.jobs.layers import BRL
from sandbox.jobs.silver.table import SilverTable

PAYMENT_METHODS = ("pix", "credit_card", "boleto")
PAYMENT_STATUSES = ("paid", "refunded", "failed")
SUBSCRIPTION_STATUSES = ("active", "cancelled")


def fct_subscription(subscriptions: DataFrame, plans: DataFrame) -> DataFrame:
    """One row per subscription, with its plan's price and its monthly value."""
    p = plans.select(
        "plan_id",
        F.col("price_brl").cast(BRL).alias("price_brl"),
        F.col("period_months").cast("int").alias("period_months"),
    )
    return subscriptions.join(p, "plan_id", "left").select(
        "subscription_id",
        "player_id",
        "plan_id",
        "status",
        "started_at",
        "cancelled_at",
        "price_brl",
        "period_months",
        (F.col("price_brl") / F.col("period_months")).cast(BRL).alias("monthly_value_brl"),
    )


def fct_payment(payments: DataFrame) -> DataFrame:
    """One row per payment, amounts as BRL decimals."""
    return payments.select(
        "payment_id",
        "player_id",
        "subscription_id",
        F.col("amount_brl").cast(BRL).alias("amount_brl"),
        F.col("method").alias("payment_method"),
        F.col("status").alias("payment_status"),
        F.col("created_at").alias("paid_at"),
        F.to_date("created_at").alias("payment_date"),
    )


TABLES: list[SilverTable] = [
    SilverTable(
        "commerce",
        "fct_subscription",
        lambda b: fct_subscription(b["subscriptions"], b["plans"]),
        (
            q.unique("subscription_id", blocking=True),
            q.not_null("price_brl"),
            q.accepted_values("plan_id", ref="plans.plan_id"),
            q.accepted_values("status", SUBSCRIPTION_STATUSES),
            q.relationship("player_id", "dim_player.player_id"),
        ),
    ),
    SilverTable(
        "commerce",
        "fct_payment",
        lambda b: fct_payment(b["payments"]),
        (
            q.unique("payment_id", blocking=True),
            q.not_null("amount_brl"),
            q.accepted_values("payment_status", PAYMENT_STATUSES),
            q.accepted_values("payment_method", PAYMENT_METHODS),
            q.relationship("player_id", "dim_player.player_id"),
        ),
    ),
]
