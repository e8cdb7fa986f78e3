{#- Relations are named schema.table, without the database. Postgres refuses a
    database qualifier other than the one it is connected to, and slim CI runs in a
    throwaway clone of the warehouse while `--defer` points at relations recorded in
    the production manifest (database `warehouse`): the clone holds the same schemas,
    so the unqualified name resolves there. Redshift needs no database either. -#}
{% macro ref() -%}
    {%- set relation = builtins.ref(*varargs, **kwargs) -%}
    {%- do return(relation.include(database=false)) -%}
{%- endmacro %}

{% macro source() -%}
    {%- set relation = builtins.source(*varargs, **kwargs) -%}
    {%- do return(relation.include(database=false)) -%}
{%- endmacro %}
