-- One row per day: how many played, how the login funnel converted, how many matches
-- were started on any map.
with active as (
    select * from {{ ref('stg_gold__daily_active_players') }}
),

funnel as (
    select * from {{ ref('stg_gold__login_funnel_daily') }}
),

matches_by_day as (
    select
        match_date,
        sum(matches) as matches_started
    from {{ ref('stg_gold__matches_per_map_daily') }}
    group by match_date
),

days as (
    select activity_date from active
    union
    select event_date from funnel
    union
    select match_date from matches_by_day
)

select
    days.activity_date,
    coalesce(active.active_players, 0) as active_players,
    coalesce(active.logins, 0) as logins,
    coalesce(funnel.logged_in, 0) as logged_in,
    coalesce(funnel.created_lobby, 0) as created_lobby,
    coalesce(funnel.started_match, 0) as started_match,
    coalesce(funnel.finished_match, 0) as finished_match,
    coalesce(matches_by_day.matches_started, 0) as matches_started,
    {{ ratio('funnel.finished_match', 'funnel.logged_in') }} as login_to_finish_rate
from days
left join active on days.activity_date = active.activity_date
left join funnel on days.activity_date = funnel.event_date
left join matches_by_day on days.activity_date = matches_by_day.match_date
