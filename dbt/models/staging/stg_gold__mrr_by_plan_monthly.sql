select
    plan_id,
    active_subscriptions,
    mrr_brl,
    cast({{ dbt.date_trunc('month', 'month') }} as date) as month_start
from {{ source('gold', 'mrr_by_plan_monthly') }}
