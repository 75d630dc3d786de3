"""scriptflow: Make where the dependencies are Python code.

The public API used in ``sflow.py``. Importing it is cheap on purpose: tasks
often re-import ``sflow.py`` (and so scriptflow) in child processes.
"""
from .config import init
from .errors import TaskError, TaskFailed, TaskNotStarted, UpstreamFailed
from .core.messages import notify
from .core.task import Task, bag
from .version import __version__


__all__ = ["Task", "bag", "init", "notify",
           "TaskError", "TaskFailed", "UpstreamFailed", "TaskNotStarted", "__version__"]
