select
    active_at_start,
    churned,
    churn_rate,
    cast({{ dbt.date_trunc('month', 'month') }} as date) as month_start
from {{ source('gold', 'subscription_churn_monthly') }}
