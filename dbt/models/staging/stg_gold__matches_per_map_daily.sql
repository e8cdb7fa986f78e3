select
    match_date,
    map_name,
    matches,
    avg_duration_s
from {{ source('gold', 'matches_per_map_daily') }}
