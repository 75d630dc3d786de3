"""Where attempts execute. ``base`` holds the contract, ``settings`` the typed settings, and
``registry`` finds executors by name (built in, registered, or installed as plug-ins)."""
from .base import Attempt, Executor, Outcome, RecordedJob, Reporter, Started
from .registry import create_executor, executor_class, executor_names, register_executor
from .settings import ExecutorSettings, setting

__all__ = ["Attempt", "Executor", "ExecutorSettings", "Outcome", "RecordedJob", "Reporter", "Started",
           "create_executor", "executor_class", "executor_names", "register_executor", "setting"]
