-- Share of each map in all matches played.
with per_map as (
    select
        map_name,
        sum(matches) as match_count
    from {{ ref('stg_matches_per_map_daily') }}
    group by map_name
)

select
    map_name,
    match_count,
    round(match_count * 1.0 / sum(match_count) over (), 4) as share_of_matches
from per_map
