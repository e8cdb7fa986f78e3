-- Every plan that appears in revenue or recurring revenue; 'none' stands for payments
-- whose subscription is unknown.
with plans as (
    select plan_id from {{ ref('stg_gold__revenue_by_plan_monthly') }}
    union
    select plan_id from {{ ref('stg_gold__mrr_by_plan_monthly') }}
)

select
    plan_id,
    plan_id != 'none' as is_known_plan
from plans
