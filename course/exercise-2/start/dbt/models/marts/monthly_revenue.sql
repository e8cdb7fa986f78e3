-- Net revenue per month across plans, in BRL.
select
    month,
    sum(payments) as payments,
    sum(net_revenue_brl) as net_revenue_brl
from {{ ref('stg_revenue_by_plan_monthly') }}
group by month
