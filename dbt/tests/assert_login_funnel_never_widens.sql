-- Each funnel step counts players who logged in that day and did something more, so no
-- step can exceed the players who logged in. Returns the days that break that.
select
    event_date,
    logged_in,
    created_lobby,
    started_match,
    finished_match
from {{ ref('stg_gold__login_funnel_daily') }}
where
    created_lobby > logged_in
    or started_match > logged_in
    or finished_match > logged_in
