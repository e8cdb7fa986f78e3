-- Month x plan: what was paid and refunded, and what recurs. A month with payments but
-- no active subscription (or the reverse) still gets its row.
with revenue as (
    select * from {{ ref('stg_gold__revenue_by_plan_monthly') }}
),

mrr as (
    select * from {{ ref('stg_gold__mrr_by_plan_monthly') }}
),

joined as (
    select
        coalesce(revenue.month_start, mrr.month_start) as month_start,
        coalesce(revenue.plan_id, mrr.plan_id) as plan_id,
        coalesce(revenue.payments, 0) as payments,
        coalesce(revenue.revenue_brl, 0) as revenue_brl,
        coalesce(revenue.refunds_brl, 0) as refunds_brl,
        coalesce(mrr.active_subscriptions, 0) as active_subscriptions,
        coalesce(mrr.mrr_brl, 0) as mrr_brl
    from revenue
    full outer join mrr
        on revenue.month_start = mrr.month_start and revenue.plan_id = mrr.plan_id
)

select
    month_start,
    plan_id,
    payments,
    revenue_brl,
    refunds_brl,
    active_subscriptions,
    mrr_brl,
    {{ dbt.concat([
        dbt.safe_cast('month_start', api.Column.translate_type('string')), "'/'", 'plan_id'
    ]) }} as plan_month_key,
    revenue_brl - refunds_brl as net_revenue_brl
from joined
