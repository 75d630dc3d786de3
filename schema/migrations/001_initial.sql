-- scriptflow ledger, schema version 1: runs, tasks, attempts, file hashes,
-- the stat cache and an event log. Timestamps are ISO-8601 UTC text
-- (e.g. 2026-11-25T15:49:12.123456Z); JSON columns hold JSON text; paths are
-- relative to the project directory (the folder holding sflow.py), with '/'
-- separators, unless they lie outside it (then absolute).

CREATE TABLE schema_migrations (
    version     INTEGER PRIMARY KEY,         -- migration number (file NNN_name.sql)
    name        TEXT NOT NULL,               -- migration file name
    applied_at  TEXT NOT NULL
);

-- One invocation of a flow.
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,     -- short run id shown to users
    name            TEXT,                    -- optional --name; reusable
    flow            TEXT NOT NULL,           -- flow name without the flow_ prefix
    flow_file       TEXT NOT NULL,           -- path of sflow.py, relative to the project
    flow_args       TEXT NOT NULL DEFAULT '[]',  -- JSON list of the flow's command-line arguments
    options         TEXT NOT NULL DEFAULT '{}',  -- JSON: effective configuration and run options
    project_dir     TEXT NOT NULL,           -- absolute project directory
    parent_run_id   INTEGER REFERENCES runs(id), -- the run this one resumes
    status          TEXT NOT NULL,           -- running | succeeded | failed | interrupted | lost
    started_at      TEXT NOT NULL,
    ended_at        TEXT,
    heartbeat_at    TEXT,                    -- refreshed while the run is alive
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    exit_code       INTEGER,
    error           TEXT,                    -- why the run failed outside any task (flow exception, ...)
    files_hashed    INTEGER NOT NULL DEFAULT 0,  -- file contents read to hash them
    files_from_stat_cache INTEGER NOT NULL DEFAULT 0, -- hashes taken from the stat cache
    scriptflow_version TEXT NOT NULL
);
CREATE INDEX runs_name ON runs(name);
CREATE INDEX runs_status ON runs(status);

-- One task of one run, with the decision taken for it.
CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    uid             TEXT NOT NULL,           -- the task's name, unique in its run
    command         TEXT NOT NULL,           -- JSON: argv list, or a string when shell = 1
    shell           INTEGER NOT NULL,        -- 1 when the command runs through a shell
    cwd             TEXT NOT NULL,           -- working directory, project-relative ('.' = project)
    env             TEXT NOT NULL DEFAULT '{}',  -- JSON: environment overrides
    version         TEXT,                    -- user version string, part of the fingerprint
    executor        TEXT NOT NULL,           -- executor name (local, slurm, sge, pbs, ...)
    resources       TEXT NOT NULL DEFAULT '{}',  -- JSON: cpus, mem, time, gpus, directives
    max_retries     INTEGER NOT NULL DEFAULT 0,
    inputs          TEXT NOT NULL DEFAULT '[]',  -- JSON list of declared input paths (incl. dependency outputs)
    outputs         TEXT NOT NULL DEFAULT '[]',  -- JSON list of declared output paths
    fingerprint     TEXT,                    -- sha256 of the task definition and input hashes
    status          TEXT NOT NULL,           -- waiting | running | succeeded | cached | failed
                                             -- | upstream-failed | not-started | interrupted
    reason          TEXT,                    -- decision: never-run, command-changed, input-changed:PATH,
                                             -- output-missing:PATH, output-modified:PATH, forced,
                                             -- previous-failed, cached, input-missing:PATH,
                                             -- input-changed-while-running:PATH, ...
    reason_detail   TEXT,                    -- JSON evidence for the reason (old/new hashes, commands)
    compared_task_id INTEGER REFERENCES tasks(id), -- earlier task the decision compared against
    decided_at      TEXT,
    ended_at        TEXT,
    UNIQUE (run_id, uid)
);
CREATE INDEX tasks_uid ON tasks(uid, status);
CREATE INDEX tasks_run_status ON tasks(run_id, status);

-- One execution of a task; a retry is a new attempt.
CREATE TABLE attempts (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    number          INTEGER NOT NULL,        -- 1 for the first try, 2 for the first retry, ...
    status          TEXT NOT NULL,           -- queued | running | succeeded | failed | timed-out
                                             -- | interrupted | lost | not-started
                                             -- (timed-out: added in 0.3, no migration: TEXT column)
    executor        TEXT NOT NULL,
    job_id          TEXT,                    -- scheduler job id (cluster executors)
    job_script      TEXT,                    -- path of the job script (cluster executors)
    queue           TEXT,                    -- partition / queue
    resources       TEXT NOT NULL DEFAULT '{}',  -- JSON: resources requested for this attempt
    host            TEXT,
    pid             INTEGER,
    queued_at       TEXT NOT NULL,
    started_at      TEXT,
    ended_at        TEXT,
    exit_code       INTEGER,
    stdout_path     TEXT,                    -- project-relative log files
    stderr_path     TEXT,
    error           TEXT,                    -- one line: why the attempt failed, if it did
    UNIQUE (task_id, number)
);
CREATE INDEX attempts_run_status ON attempts(run_id, status);

-- Every file hash taken for a task: its inputs when the decision was made and
-- its outputs when an attempt succeeded (or, for a cached task, the outputs it
-- found, pointing to the attempt that produced them). A task decided again
-- because an input changed while it ran has its input rows replaced.
CREATE TABLE files (
    id              INTEGER PRIMARY KEY,
    task_id         INTEGER NOT NULL REFERENCES tasks(id),
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    role            TEXT NOT NULL CHECK (role IN ('input', 'output')),
    path            TEXT NOT NULL,
    sha256          TEXT,                    -- NULL when the file did not exist
    size            INTEGER,
    producer_attempt_id INTEGER REFERENCES attempts(id), -- outputs: the attempt that wrote this content
    recorded_at     TEXT NOT NULL
);
CREATE INDEX files_path ON files(path, role);
CREATE INDEX files_task ON files(task_id, role);
CREATE INDEX files_sha256 ON files(sha256);

-- (path, size, mtime, inode) -> sha256, so that unchanged files are not re-read.
CREATE TABLE stat_cache (
    path            TEXT PRIMARY KEY,        -- absolute path
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL,
    inode           INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    hashed_at_ns    INTEGER NOT NULL         -- when the content was read (racy-entry check)
) WITHOUT ROWID;

-- Run-level happenings worth keeping that have no row of their own
-- (interruptions, lost attempts, lock waits, ...).
CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    run_id          INTEGER REFERENCES runs(id),
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    task_uid        TEXT,
    detail          TEXT                     -- JSON
);
CREATE INDEX events_run ON events(run_id);
