-- One row per month: revenue, recurring revenue and churn side by side, for the
-- monthly business review.
with plans as (
    select
        month_start,
        sum(payments) as payments,
        sum(revenue_brl) as revenue_brl,
        sum(refunds_brl) as refunds_brl,
        sum(net_revenue_brl) as net_revenue_brl,
        sum(active_subscriptions) as active_subscriptions,
        sum(mrr_brl) as mrr_brl
    from {{ ref('fct_plan_monthly') }}
    group by month_start
),

churn as (
    select * from {{ ref('stg_gold__subscription_churn_monthly') }}
)

select
    plans.payments,
    plans.revenue_brl,
    plans.refunds_brl,
    plans.net_revenue_brl,
    plans.active_subscriptions,
    plans.mrr_brl,
    coalesce(plans.month_start, churn.month_start) as month_start,
    coalesce(churn.active_at_start, 0) as active_at_start,
    coalesce(churn.churned, 0) as churned,
    churn.churn_rate,
    {{ ratio('plans.mrr_brl', 'plans.active_subscriptions', 2) }} as mrr_per_subscription_brl
from plans
full outer join churn on plans.month_start = churn.month_start
