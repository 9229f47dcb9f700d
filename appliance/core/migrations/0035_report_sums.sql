-- Report rollups packed: one row per period, dimension, bucket and key with all its
-- sums, and the figures made from them (core/reports.py, store/reports.py).
--
-- report_rollups held one row per metric (about 45 per agent and day, most of them the
-- queue-wait histogram's buckets), so a month of days per agent read ~200,000 rows and
-- built every figure again on each ask. report_sums keeps, per bucket and key:
--   sums     JSON {metric: [n, total]}, zero sums left out; the pass adds to it
--   figures  the bucket's figures (report_figures.figures) as a JSON array in the
--            order of report_figures.FIGURE_IDS, written with the sums by the pass;
--            NULL until made (rows carried over below: the pass fills them in, and a
--            report makes any still missing from the sums when it reads them)
--   backlog  the bucket's backlog step (the sums' backlog total), for the running sum
-- Sums add, so a backfill from the events gives the same rows, figures included.
-- (A rowid table: rows of ~1-2 KB are past what WITHOUT ROWID suits.)

CREATE TABLE report_sums (
    id INTEGER PRIMARY KEY,
    period TEXT NOT NULL CHECK (period IN ('d', 'w', 'm')),
    dim TEXT NOT NULL CHECK (dim IN ('all', 'agent', 'group', 'topic', 'channel', 'site')),
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    sums TEXT NOT NULL CHECK (json_valid(sums)),
    figures TEXT CHECK (figures IS NULL OR json_valid(figures)),
    backlog INTEGER NOT NULL DEFAULT 0
);

CREATE UNIQUE INDEX report_sums_bucket ON report_sums (period, dim, bucket, key);
-- The backlog before a report's span: month rows, then the days of its first month.
CREATE INDEX report_sums_backlog ON report_sums (period, dim, bucket, key, backlog)
    WHERE backlog != 0;
-- Rows whose figures are still to be made.
CREATE INDEX report_sums_unfigured ON report_sums (id) WHERE figures IS NULL;

INSERT INTO report_sums (period, dim, bucket, key, sums, backlog)
SELECT period, dim, bucket, key,
    json_group_object(metric, json_array(n, total)),
    coalesce(sum(CASE WHEN metric = 'backlog' THEN total END), 0)
FROM (SELECT * FROM report_rollups WHERE n != 0 OR total != 0 ORDER BY metric)
GROUP BY period, dim, bucket, key;

DROP TABLE report_rollups;

-- The version of report_figures the stored figures were made by (FIGURES_VERSION): when
-- a new version of the box changes the figures, its first pass forgets the stored ones
-- and makes them again, and reports make them from the sums until then.
ALTER TABLE report_state ADD COLUMN figures INTEGER NOT NULL DEFAULT 0;
UPDATE report_state SET figures = 1;
