-- Skill tiers in MMR order, with their win rates and their share of the leaderboard.
with leaderboard as (
    select
        skill_tier,
        count(*) as leaderboard_players
    from {{ ref('stg_gold__leaderboard') }}
    group by skill_tier
)

select
    tiers.skill_tier,
    tiers.players,
    tiers.games,
    tiers.wins,
    tiers.win_rate,
    case tiers.skill_tier
        when 'bronze' then 1
        when 'silver' then 2
        when 'gold' then 3
        when 'platinum' then 4
        when 'diamond' then 5
        when 'master' then 6
    end as tier_order,
    coalesce(leaderboard.leaderboard_players, 0) as leaderboard_players
from {{ ref('stg_gold__win_rate_by_tier') }} as tiers
left join leaderboard on tiers.skill_tier = leaderboard.skill_tier
