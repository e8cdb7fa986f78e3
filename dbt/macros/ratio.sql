{#- numerator / denominator as a decimal, null when the denominator is zero. Plain SQL
    that Redshift and Postgres both accept. -#}
{% macro ratio(numerator, denominator, scale=4) -%}
    cast(
        cast({{ numerator }} as decimal(18, {{ scale }}))
        / nullif({{ denominator }}, 0)
        as decimal(18, {{ scale }})
    )
{%- endmacro %}
