select
    activity_date,
    active_players,
    logins
from {{ source('gold', 'daily_active_players') }}
