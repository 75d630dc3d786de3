"""Where attempts execute. See ``base`` for the interface and the registry."""
from .base import (Attempt, Executor, Outcome, RecordedJob, Started, create_executor, executor_names,
                   register_executor)

__all__ = ["Attempt", "Executor", "Outcome", "RecordedJob", "Started", "create_executor", "executor_names", "register_executor"]
