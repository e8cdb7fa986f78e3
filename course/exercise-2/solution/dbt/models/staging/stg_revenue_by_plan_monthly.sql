select
    month,
    plan_id,
    payments,
    revenue_brl,
    refunds_brl,
    revenue_brl - refunds_brl as net_revenue_brl
from {{ source('gold', 'revenue_by_plan_monthly') }}
