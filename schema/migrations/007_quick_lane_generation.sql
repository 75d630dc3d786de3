-- scriptflow ledger, schema version 7: a counter of changes to the rows the quick lane reads.
--
-- A run starts by reading the latest task rows, their output rows and the
-- whole stat cache (0.1 s at 10,000 tasks, about 1 s at 100,000). It keeps
-- what it read in .scriptflow/quicklane.snapshot, and a later run uses that
-- file instead of reading again only while nothing in tasks, files or
-- stat_cache changed since (core/snapshot.py). The triggers below count
-- every change to those tables, whoever makes it: scriptflow, another
-- tool, or an UPDATE typed into sqlite3. ledger_token tells this ledger from
-- any other (a ledger deleted and made again starts a new count).
CREATE TABLE quick_lane_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    ledger_token TEXT NOT NULL,
    generation   INTEGER NOT NULL
);
INSERT INTO quick_lane_state (id, ledger_token, generation) VALUES (1, lower(hex(randomblob(16))), 0);

CREATE TRIGGER quick_lane_tasks_insert AFTER INSERT ON tasks
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_tasks_update AFTER UPDATE ON tasks
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_tasks_delete AFTER DELETE ON tasks
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_files_insert AFTER INSERT ON files
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_files_update AFTER UPDATE ON files
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_files_delete AFTER DELETE ON files
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_stat_cache_insert AFTER INSERT ON stat_cache
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_stat_cache_update AFTER UPDATE ON stat_cache
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
CREATE TRIGGER quick_lane_stat_cache_delete AFTER DELETE ON stat_cache
BEGIN UPDATE quick_lane_state SET generation = generation + 1; END;
