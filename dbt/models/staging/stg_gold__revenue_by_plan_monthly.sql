select
    plan_id,
    payments,
    revenue_brl,
    refunds_brl,
    cast({{ dbt.date_trunc('month', 'month') }} as date) as month_start
from {{ source('gold', 'revenue_by_plan_monthly') }}
