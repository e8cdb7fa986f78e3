select
    player_id,
    nickname,
    skill_tier,
    mmr,
    games,
    wins,
    win_rate,
    rank as leaderboard_rank
from {{ source('gold', 'leaderboard') }}
