"""Removing a task's declared outputs, before an attempt starts and after it fails.

A failed or restarted task must never look done, so whatever it (or an
earlier run) left at its output paths goes. A directory output is removed
only inside the project, and never the project itself or its ``.scriptflow``.
"""
from __future__ import annotations

import logging
import os
import shutil

from ..project import Project
from .spec import TaskSpec

log = logging.getLogger("scriptflow.engine")


def remove_outputs(spec: TaskSpec, project: Project) -> None:
    root, state = str(project.dir), str(project.state_dir)
    for rel in spec.outputs:
        path = spec.output_abs[rel]
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                if os.path.commonpath([root, path]) == root and path not in (root, state):
                    shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove output %s of %s: %s", rel, spec.uid, exc)
