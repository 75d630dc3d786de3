-- scriptflow ledger, schema version 6: tasks created by tasks.
--
-- A script running as a task may create tasks of the run that started it
-- (README, "Tasks that create tasks"). Such a task records the task whose
-- command created it; NULL for the tasks a flow created, and for every task
-- recorded before.
ALTER TABLE tasks ADD COLUMN parent_task_id INTEGER REFERENCES tasks(id);
CREATE INDEX tasks_parent ON tasks(parent_task_id) WHERE parent_task_id IS NOT NULL;
