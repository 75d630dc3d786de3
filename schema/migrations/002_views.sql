-- scriptflow ledger, schema version 2: views for the common questions, and
-- the indexes `scriptflow report` and `scriptflow clean` look files up with.
--
-- The views have no GROUP BY, so SQLite folds a WHERE on
-- them into the underlying query: `SELECT * FROM latest_producers WHERE
-- path = 'final.txt'` is an index lookup, not a scan. Durations are seconds
-- (REAL, millisecond precision) computed from the ISO-8601 timestamps.

-- Lineage looks up "the latest output row of PATH, as of run R"; with run_id
-- in the index that is one seek. It covers every query files_path served.
CREATE INDEX files_path_run ON files(path, role, run_id);
DROP INDEX files_path;
-- "The outputs of run N" (clean --run, comparing two runs, your own queries).
CREATE INDEX files_run ON files(run_id, role);

-- Latest producer of each file: the most recent output row recorded for the
-- path (by a run that ran the task or found it cached) and the attempt that
-- actually wrote that content.
CREATE VIEW latest_producers AS
SELECT
    f.path                      AS path,
    f.sha256                    AS sha256,
    f.size                      AS size,
    f.run_id                    AS recorded_in_run_id,
    f.recorded_at               AS recorded_at,
    f.producer_attempt_id       AS attempt_id,
    a.run_id                    AS run_id,
    r.name                      AS run_name,
    t.id                        AS task_id,
    t.uid                       AS uid,
    a.number                    AS attempt,
    t.command                   AS command,
    t.shell                     AS shell,
    t.cwd                       AS cwd,
    a.executor                  AS executor,
    a.job_id                    AS job_id,
    a.host                      AS host,
    a.started_at                AS started_at,
    a.ended_at                  AS ended_at,
    round((julianday(a.ended_at) - julianday(a.started_at)) * 86400.0, 3) AS duration_seconds,
    a.exit_code                 AS exit_code
FROM files AS f
LEFT JOIN attempts AS a ON a.id = f.producer_attempt_id
LEFT JOIN tasks AS t ON t.id = a.task_id
LEFT JOIN runs AS r ON r.id = a.run_id
WHERE f.role = 'output'
  AND f.sha256 IS NOT NULL
  AND f.id = (SELECT max(g.id) FROM files AS g
              WHERE g.path = f.path AND g.role = 'output' AND g.sha256 IS NOT NULL);

-- One row per run: how it went and what its tasks did.
CREATE VIEW run_summary AS
SELECT
    r.id                        AS run_id,
    r.name                      AS name,
    r.flow                      AS flow,
    r.status                    AS status,
    r.exit_code                 AS exit_code,
    r.parent_run_id             AS parent_run_id,
    r.started_at                AS started_at,
    r.ended_at                  AS ended_at,
    round((julianday(r.ended_at) - julianday(r.started_at)) * 86400.0, 3) AS duration_seconds,
    r.host                      AS host,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id)                               AS tasks,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'succeeded')    AS succeeded,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'cached')       AS cached,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'failed')       AS failed,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id
                                       AND t.status IN ('upstream-failed', 'not-started', 'interrupted')) AS not_run,
    (SELECT count(*) FROM attempts AS a WHERE a.run_id = r.id)                            AS attempts,
    (SELECT count(*) FROM attempts AS a WHERE a.run_id = r.id AND a.number > 1)           AS retries,
    r.files_hashed              AS files_hashed,
    r.files_from_stat_cache     AS files_from_stat_cache,
    r.error                     AS error
FROM runs AS r;

-- Every failed (or lost) attempt with its logs, plus tasks that failed
-- without running (a missing input). A task that failed and then succeeded
-- on a retry keeps its failed attempts here, with task_status 'succeeded'.
CREATE VIEW failures AS
SELECT
    a.run_id                    AS run_id,
    r.name                      AS run_name,
    t.id                        AS task_id,
    t.uid                       AS uid,
    t.status                    AS task_status,
    t.reason                    AS reason,
    a.id                        AS attempt_id,
    a.number                    AS attempt,
    a.status                    AS attempt_status,
    a.exit_code                 AS exit_code,
    a.error                     AS error,
    a.stderr_path               AS stderr_path,
    a.stdout_path               AS stdout_path,
    a.executor                  AS executor,
    a.job_id                    AS job_id,
    a.host                      AS host,
    a.ended_at                  AS ended_at
FROM attempts AS a
JOIN tasks AS t ON t.id = a.task_id
JOIN runs AS r ON r.id = a.run_id
WHERE a.status IN ('failed', 'lost')
UNION ALL
SELECT
    t.run_id, r.name, t.id, t.uid, t.status, t.reason,
    NULL, NULL, NULL, NULL, json_extract(t.reason_detail, '$.error'), NULL, NULL,
    t.executor, NULL, NULL, t.ended_at
FROM tasks AS t
JOIN runs AS r ON r.id = t.run_id
WHERE t.status = 'failed'
  AND NOT EXISTS (SELECT 1 FROM attempts AS a WHERE a.task_id = t.id AND a.status IN ('failed', 'lost'));

-- Every attempt that started and ended, longest first.
CREATE VIEW slowest_tasks AS
SELECT
    a.run_id                    AS run_id,
    r.name                      AS run_name,
    t.id                        AS task_id,
    t.uid                       AS uid,
    a.id                        AS attempt_id,
    a.number                    AS attempt,
    a.status                    AS status,
    a.exit_code                 AS exit_code,
    a.executor                  AS executor,
    a.job_id                    AS job_id,
    a.host                      AS host,
    a.started_at                AS started_at,
    a.ended_at                  AS ended_at,
    round((julianday(a.ended_at) - julianday(a.started_at)) * 86400.0, 3) AS duration_seconds
FROM attempts AS a
JOIN tasks AS t ON t.id = a.task_id
JOIN runs AS r ON r.id = a.run_id
WHERE a.started_at IS NOT NULL AND a.ended_at IS NOT NULL
ORDER BY duration_seconds DESC;

-- Every hash recorded for a path, oldest first: as an output (made by the
-- attempt producer_attempt_id, or found cached) and as an input (read by a
-- task). A NULL sha256 means the file did not exist when it was looked at.
CREATE VIEW file_history AS
SELECT
    f.path                      AS path,
    f.sha256                    AS sha256,
    f.size                      AS size,
    f.role                      AS role,
    f.recorded_at               AS recorded_at,
    f.run_id                    AS run_id,
    r.name                      AS run_name,
    t.id                        AS task_id,
    t.uid                       AS uid,
    t.status                    AS task_status,
    f.producer_attempt_id       AS producer_attempt_id,
    pa.run_id                   AS producer_run_id,
    f.id                        AS file_id
FROM files AS f
JOIN tasks AS t ON t.id = f.task_id
JOIN runs AS r ON r.id = f.run_id
LEFT JOIN attempts AS pa ON pa.id = f.producer_attempt_id
ORDER BY f.id;
