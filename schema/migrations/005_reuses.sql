-- scriptflow ledger, schema version 5: a task found up to date is one small
-- `reuses` row instead of a full `tasks` row and a `files` row per input and
-- output.
--
-- A cached task repeats an earlier task exactly: the same definition and
-- fingerprint (so the same input hashes) and the same output hashes, made by
-- the same attempts. Until now each no-op run copied all of it (about 890
-- bytes per task); now it records only that run R reused the tasks row that
-- holds that definition and those files rows. The row pointed to always holds
-- the definition itself (a reuse never points to a reuse: there are no
-- chains). A cached task whose definition differs in a column the fingerprint
-- does not cover (executor, resources, retries, a container), or that was
-- adopted (`run --adopt`), still gets a full `tasks` row and its `files` rows.
--
-- The views `run_tasks` and `run_files` present every task and file row of
-- every run, the reused ones included, with the columns of `tasks` and
-- `files`: query them where "the tasks of run R" must include its cached
-- tasks. `latest_producers`, `run_summary` and `file_history` are rebuilt on
-- them, so their answers are those they gave when cached tasks had full rows.

CREATE TABLE reuses (
    run_id      INTEGER NOT NULL REFERENCES runs(id),   -- the run that found the task up to date
    task_id     INTEGER NOT NULL REFERENCES tasks(id),  -- the tasks row it reused (definition, files)
    at          TEXT NOT NULL,                          -- when it was decided (its decided_at and ended_at)
    PRIMARY KEY (run_id, task_id)
) WITHOUT ROWID;
-- "When was task T last reused?" (deciding, report, why): one seek.
CREATE INDEX reuses_task ON reuses(task_id, run_id);

-- Every task of every run: the tasks rows, and one row per reuse presenting
-- the reused row as a cached task of the reusing run (id: the reused row,
-- which holds its files; reused: 1).
CREATE VIEW run_tasks AS
SELECT
    t.id, t.run_id, t.uid, t.command, t.shell, t.cwd, t.env, t.version, t.executor, t.resources,
    t.max_retries, t.inputs, t.outputs, t.fingerprint, t.status, t.reason, t.reason_detail,
    t.compared_task_id, t.decided_at, t.ended_at, t.container_image, t.container_image_id,
    t.container_runtime, 0 AS reused
FROM tasks AS t
UNION ALL
SELECT
    t.id, u.run_id, t.uid, t.command, t.shell, t.cwd, t.env, t.version, t.executor, t.resources,
    t.max_retries, t.inputs, t.outputs, t.fingerprint, 'cached', 'cached', '{}',
    t.id, u.at, u.at, t.container_image, t.container_image_id,
    t.container_runtime, 1
FROM reuses AS u
JOIN tasks AS t ON t.id = u.task_id;

-- Every file row of every run: the files rows, and for each reuse the rows
-- of the reused task, recorded by the reusing run (reused: 1).
CREATE VIEW run_files AS
SELECT
    f.id, f.task_id, f.run_id, f.role, f.path, f.sha256, f.size, f.producer_attempt_id, f.recorded_at,
    0 AS reused
FROM files AS f
UNION ALL
SELECT
    f.id, f.task_id, u.run_id, f.role, f.path, f.sha256, f.size, f.producer_attempt_id, u.at,
    1
FROM reuses AS u
JOIN files AS f ON f.task_id = u.task_id;

-- Latest producer of each file, as in 002, the reuses counting as
-- recordings: the latest recording of a path is the output row with the
-- latest run that recorded it (ran its task or reused it), then the highest
-- id; recorded_in_run_id and recorded_at say which run, and when.
DROP VIEW latest_producers;
CREATE VIEW latest_producers AS
SELECT
    f.path                      AS path,
    f.sha256                    AS sha256,
    f.size                      AS size,
    coalesce(u.run_id, f.run_id) AS recorded_in_run_id,
    coalesce(u.at, f.recorded_at) AS recorded_at,
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
LEFT JOIN reuses AS u ON u.task_id = f.task_id
                     AND u.run_id = (SELECT max(v.run_id) FROM reuses AS v WHERE v.task_id = f.task_id)
LEFT JOIN attempts AS a ON a.id = f.producer_attempt_id
LEFT JOIN tasks AS t ON t.id = a.task_id
LEFT JOIN runs AS r ON r.id = a.run_id
WHERE f.role = 'output'
  AND f.sha256 IS NOT NULL
  AND f.id = (SELECT g.id FROM files AS g
              WHERE g.path = f.path AND g.role = 'output' AND g.sha256 IS NOT NULL
              ORDER BY coalesce((SELECT max(w.run_id) FROM reuses AS w WHERE w.task_id = g.task_id), g.run_id) DESC,
                       g.id DESC
              LIMIT 1);

-- One row per run, as in 002, its reused tasks counted (as cached).
DROP VIEW run_summary;
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
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id)
      + (SELECT count(*) FROM reuses AS u WHERE u.run_id = r.id)                          AS tasks,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'succeeded')    AS succeeded,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'cached')
      + (SELECT count(*) FROM reuses AS u WHERE u.run_id = r.id)                          AS cached,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id AND t.status = 'failed')       AS failed,
    (SELECT count(*) FROM tasks AS t WHERE t.run_id = r.id
                                       AND t.status IN ('upstream-failed', 'not-started', 'interrupted')) AS not_run,
    (SELECT count(*) FROM attempts AS a WHERE a.run_id = r.id)                            AS attempts,
    (SELECT count(*) FROM attempts AS a WHERE a.run_id = r.id AND a.number > 1)           AS retries,
    r.files_hashed              AS files_hashed,
    r.files_from_stat_cache     AS files_from_stat_cache,
    r.error                     AS error
FROM runs AS r;

-- Every hash recorded for a path, oldest first, as in 002, the rows of
-- reused tasks included (task_status 'cached', recorded by the reusing run;
-- file_id is then the id of the reused files row).
DROP VIEW file_history;
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
    CASE WHEN f.reused THEN 'cached' ELSE t.status END AS task_status,
    f.producer_attempt_id       AS producer_attempt_id,
    pa.run_id                   AS producer_run_id,
    f.id                        AS file_id,
    f.reused                    AS reused
FROM run_files AS f
JOIN tasks AS t ON t.id = f.task_id
JOIN runs AS r ON r.id = f.run_id
LEFT JOIN attempts AS pa ON pa.id = f.producer_attempt_id
ORDER BY f.run_id, f.id;
