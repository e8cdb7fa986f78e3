{# Drops the target's schema: CI builds in a schema of its own and removes it after. #}
{% macro drop_ci_schema() %}
    {% do adapter.drop_schema(api.Relation.create(database=target.database, schema=target.schema)) %}
{% endmacro %}
