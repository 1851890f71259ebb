-- Snapshots are kept out of line but not compressed (STORAGE EXTERNAL): a large case's
-- snapshot is tens of kilobytes, read on every load without a cached aggregate and rewritten
-- every `snapshot_every` events. pglz compression made each such write compress, and each such
-- read decompress, the whole document; on this kind of machine reading a 68 kB snapshot took
-- 0.31 ms compressed and 0.19 ms plain. Snapshots are one row per stream, so the extra space is
-- small. Applies to snapshots written from now on; older ones are rewritten as streams move.
ALTER TABLE snapshots ALTER COLUMN payload SET STORAGE EXTERNAL;
