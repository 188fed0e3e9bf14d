-- The fixed variant of the workshop's CTAS (notebook 04 teaches why): HH24 instead of the 12-hour `hh`,
-- `dummy01` .. `dummy100` instead of `dummy00` for line 100, and a dense numeric `id` for Sqoop's --split-by.
-- Each minute is formatted once, not once per row. The seed's whole table, built by hand in notebook 04
-- (labkit.workshop.dummy.fixed_sql renders it with the scale's date range from labkit.config). The DAG does
-- not run it: each of its runs writes only its own day (dags/sql/generate_interval_rows.sql, the same rows).
create unlogged table tbl_airflow_dummy as
with minutes as materialized (
    select k, to_char(ts, 'YYYY-MM-DD HH24:MI') as created
    from generate_series('{{ start }}'::timestamp, '{{ end }}', '1 minute') with ordinality as g(ts, k)
)
select (line - 1) * (select count(*) from minutes) + k as id,              -- dense 1..N
       'dummy' || case when line < 10 then '0' else '' end || line as line,  -- dummy01 .. dummy100
       repeat('Aa', 20) as comment,
       created
from generate_series(1, 100) as lines(line)
cross join lateral (select k, created from minutes) as m;

-- Fresh statistics for the import's planner. No index on `id`: rows are stored in `id` order, so an `id`
-- range is also a range of the table's blocks, and building a primary key would cost more than it saves.
analyze tbl_airflow_dummy;
