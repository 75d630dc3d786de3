-- scriptflow ledger, schema version 6: tasks created by tasks.
--
-- A script running as a task may create tasks of the run that started it
-- (README, "Tasks that create tasks"). Such a task records the task whose
-- command created it; NULL for the tasks a flow created, and for every task
-- recorded before.
ALTER TABLE tasks ADD COLUMN parent_task_id INTEGER REFERENCES tasks(id);
CREATE INDEX tasks_parent ON tasks(parent_task_id) WHERE parent_task_id IS NOT NULL;

-- run_tasks (005) gains the column. A task created by a task always has a
-- row of its own (it is never recorded as a reuse), so a reuse row has none.
DROP VIEW run_tasks;
CREATE VIEW run_tasks AS
SELECT
    t.id, t.run_id, t.uid, t.command, t.shell, t.cwd, t.env, t.version, t.executor, t.resources,
    t.max_retries, t.inputs, t.outputs, t.fingerprint, t.status, t.reason, t.reason_detail,
    t.compared_task_id, t.decided_at, t.ended_at, t.container_image, t.container_image_id,
    t.container_runtime, 0 AS reused, t.parent_task_id
FROM tasks AS t
UNION ALL
SELECT
    t.id, u.run_id, t.uid, t.command, t.shell, t.cwd, t.env, t.version, t.executor, t.resources,
    t.max_retries, t.inputs, t.outputs, t.fingerprint, 'cached', 'cached', '{}',
    t.id, u.at, u.at, t.container_image, t.container_image_id,
    t.container_runtime, 1, NULL
FROM reuses AS u
JOIN tasks AS t ON t.id = u.task_id;
