-- scriptflow ledger, schema version 4: the container image each task ran in.
--
-- A task run with Task(container=...) (or a configured default container)
-- records the image as written, the immutable id it was resolved to before
-- the task was decided (part of the task's fingerprint: "sha256:..." is the
-- image id for podman/docker, the sha256 of the image file for
-- apptainer/singularity), and the runtime that ran it. All three are NULL for
-- tasks that ran without a container, and for every task recorded before.
ALTER TABLE tasks ADD COLUMN container_image TEXT;
ALTER TABLE tasks ADD COLUMN container_image_id TEXT;
ALTER TABLE tasks ADD COLUMN container_runtime TEXT;
