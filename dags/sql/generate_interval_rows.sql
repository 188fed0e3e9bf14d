-- The rows of one run's data interval, as the source system would have received them: 100 lines x each
-- minute of [data_interval_start, data_interval_end), the fixed variant's rows of notebook 04 with a key of
-- their own, id = 100 x (minutes since 2021-01-01 00:00) + line: unique across days, the same on every
-- rerun, dense within an interval, and in the order the rows are stored.
-- Delete, insert and count run in one transaction (committed at the end): a rerun replaces the interval's
-- rows with the same rows, no other interval is touched, and a failure leaves the table as it was.
-- An Airflow template: `interval` (a macro of the DAG) stops a run that has no data interval.
{%- set run = interval(data_interval_start, data_interval_end) %}
create table if not exists tbl_airflow_dummy_daily (
    id bigint primary key, line text, comment text, created text
);
create index if not exists tbl_airflow_dummy_daily_created on tbl_airflow_dummy_daily (created);

delete from tbl_airflow_dummy_daily where created >= '{{ run.start }}' and created < '{{ run.end }}';

insert into tbl_airflow_dummy_daily (id, line, comment, created)
select 100 * (extract(epoch from m.ts - '2021-01-01 00:00')::bigint / 60) + line,
       'dummy' || case when line < 10 then '0' else '' end || line,   -- dummy01 .. dummy100
       repeat('Aa', 20),
       m.created
from (select ts, to_char(ts, 'YYYY-MM-DD HH24:MI') as created     -- each minute formatted once
      from generate_series('{{ run.start }}'::timestamp, '{{ run.end }}'::timestamp - interval '1 minute',
                           '1 minute') as ts) as m
cross join generate_series(1, 100) as line
order by 1;

-- Fresh statistics for the import's plans, then what the import must land (its --expect-rows, through this
-- task's XCom).
analyze tbl_airflow_dummy_daily;
select count(*) from tbl_airflow_dummy_daily where created >= '{{ run.start }}' and created < '{{ run.end }}';
