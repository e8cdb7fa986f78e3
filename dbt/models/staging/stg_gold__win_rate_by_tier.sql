select
    skill_tier,
    players,
    games,
    wins,
    win_rate
from {{ source('gold', 'win_rate_by_tier') }}
