"""Removing a task's declared outputs, before an attempt starts and after it fails.

A failed or restarted task must never look done, so whatever it (or an
earlier run) left at its output paths goes. Removal never follows a symlink:
an output that is a symlink is unlinked, never its target; a file is
unlinked by the name the task declared. A directory tree is removed only
when its real location (every symlinked parent resolved) lies inside the
project's real folder and outside ``.scriptflow/``; otherwise it is kept and
a warning logged. An output pattern's matching files are unlinked, each only when
its folder really lies there too. Protected outputs (the project, its state, the flow file)
were refused when the task started (``protected``); the containment check
here is the last line of defence.
"""
from __future__ import annotations

import logging
import os
import shutil

from ..executors.outputs import OutputPattern
from ..project import Project
from .spec import TaskSpec

log = logging.getLogger("scriptflow.engine")


def tree_removable(path: str, project: Project) -> bool:
    """True when the directory ``path`` really lies inside the project (symlinks resolved), not its state."""
    root = os.path.realpath(project.dir)
    state = os.path.realpath(project.state_dir)
    real = os.path.realpath(path)
    if not real.startswith(root.rstrip(os.sep) + os.sep):
        return False
    return not (real == state or real.startswith(state + os.sep))


def remove_outputs(spec: TaskSpec, project: Project) -> None:
    for rel in spec.outputs:
        path = spec.output_abs[rel]
        if isinstance(path, OutputPattern):
            _remove_matches(path, rel, spec, project)
            continue
        try:  # usually a file or nothing: one system call (unlink never follows a symlink)
            os.unlink(path)
            continue
        except FileNotFoundError:
            continue
        except OSError:  # a directory (EISDIR on Linux, EPERM elsewhere) or a real error: look
            pass
        try:
            if os.path.islink(path) or not os.path.isdir(path):
                os.unlink(path)
            elif tree_removable(path, project):
                shutil.rmtree(path, ignore_errors=True)
            else:
                log.warning("kept output directory %s of %s: its real location %s is outside the project",
                            rel, spec.uid, os.path.realpath(path))
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove output %s of %s: %s", rel, spec.uid, exc)


def _remove_matches(pattern: OutputPattern, rel: str, spec: TaskSpec, project: Project) -> None:
    """Unlink the files an output pattern matches now (a symlink itself, never its target)."""
    for path in pattern.matches():
        folder = os.path.dirname(path)
        if not (tree_removable(folder, project) or os.path.realpath(folder) == os.path.realpath(project.dir)):
            log.warning("kept %s (matching output %s of %s): its real location %s is outside the project",
                        path, rel, spec.uid, os.path.realpath(path))
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove %s (matching output %s of %s): %s", path, rel, spec.uid, exc)
