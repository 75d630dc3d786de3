-- scriptflow ledger, schema version 3: the stat cache keys on ctime too, and
-- its paths are project-relative like every other path in the ledger.
--
-- A same-size edit whose mtime is put back (cp -p, rsync -t, tar x, touch -r,
-- os.utime) keeps size, mtime and inode; only the inode change time moves.
-- Entries written before this version have no ctime and absolute paths: they
-- cannot be trusted, so the cache starts empty and the next run reads each
-- file once. Nothing else is lost: the cache only spares reading contents.

DROP TABLE stat_cache;

-- (path, size, mtime, ctime, inode) -> sha256, so that unchanged files are not re-read.
CREATE TABLE stat_cache (
    path            TEXT PRIMARY KEY,        -- project-relative path (absolute outside the project)
    size            INTEGER NOT NULL,
    mtime_ns        INTEGER NOT NULL,
    ctime_ns        INTEGER NOT NULL,        -- inode change time: moves on every write, chmod, utime
    inode           INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    hashed_at_ns    INTEGER NOT NULL         -- when the content was read (racy-entry check)
) WITHOUT ROWID;
