select
    event_date,
    logged_in,
    created_lobby,
    started_match,
    finished_match
from {{ source('gold', 'login_funnel_daily') }}
