"""Typed executor settings: validation, the ``scriptflow executors`` listing, and docs/executors.md.

The settings dataclasses are the one source of the checks, the listing and
the generated tables; these tests hold the three to each other and to the
keys and defaults the configuration has always accepted.
"""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Optional

import pytest
from conftest import REPO

from scriptflow.errors import ConfigError
from scriptflow.executors.doc import update
from scriptflow.executors.registry import create_executor

DOC = REPO / "docs" / "executors.md"

#: Keys and defaults of every cluster executor, as docs/hpc.md lists them.
CLUSTER_DEFAULTS = {
    "maxsize": 100, "partition": None, "queue": None, "account": None, "modules": [], "setup": [],
    "directives": [], "poll_interval": 5.0, "submit_rate": 10.0, "poll_failure_timeout": 600.0,
    "output_latency": 5.0, "shell": "/bin/bash", "export_env": True, "command_timeout": 60.0, "walltime": None, "user": None,
}
OWN_DEFAULTS = {"slurm": {"arrays": True, "array_max": 1000, "array_window": 0.5},
                "sge": {"arrays": True, "array_max": 1000, "array_window": 0.5, "pe": "smp", "mem_resource": "h_vmem",
                        "gpu_resource": "gpu"},
                "pbs": {"flavor": "torque"}}


def test_docs_executors_md_is_generated_from_the_settings():
    """Fails when a setting changed without `python -m scriptflow.executors.doc docs/executors.md`."""
    text = DOC.read_text(encoding="utf-8")
    assert update(text) == text, "docs/executors.md is out of date: python -m scriptflow.executors.doc docs/executors.md"
    for name in ("local", "slurm", "sge", "pbs", "dask"):
        assert f"### `{name}` (built-in)" in text
    assert "| `poll_interval` | number >= 0.05 | 5 | seconds |" in text


@pytest.mark.parametrize("name", ["slurm", "sge", "pbs"])
def test_cluster_keys_and_defaults_are_unchanged(tmp_path, name):
    executor = create_executor(name, {}, tmp_path)
    expected = {**CLUSTER_DEFAULTS, **OWN_DEFAULTS[name]}
    assert {key: getattr(executor.settings, key) for key in expected} == expected
    assert {s.name for s in executor.settings.describe()} == set(expected)
    hpc = (REPO / "docs" / "hpc.md").read_text()
    for key in expected:  # each key is still documented for users of the cluster executors
        assert f"`{key}`" in hpc, key


def test_local_maxsize(tmp_path):
    assert create_executor("local", {"maxsize": 3}, tmp_path).slots == 3
    cpus = create_executor("local", {}, tmp_path).slots
    assert cpus >= 1
    assert create_executor("local", {"maxsize": None}, tmp_path).slots == cpus
    assert create_executor("local", {"maxsize": 0}, tmp_path).slots == cpus  # as before: 0 means the CPUs


@pytest.mark.parametrize("name, settings, message", [
    ("local", {"maxsize": -1}, "executors.local.maxsize must be an integer >= 0, got -1"),
    ("local", {"maxsize": "4"}, "executors.local.maxsize must be an integer >= 0, got '4'"),
    ("local", {"maxsize": True}, "executors.local.maxsize must be an integer >= 0, got True"),
    ("local", {"max_size": 2}, "executors.local: unknown setting 'max_size' (known: maxsize)"),
    ("slurm", {"maxsize": 2.5}, "executors.slurm.maxsize must be a positive integer, got 2.5"),
    ("slurm", {"poll_interval": 0.01}, "executors.slurm.poll_interval must be a number >= 0.05 (seconds), got 0.01"),
    ("slurm", {"poll_interval": True}, "executors.slurm.poll_interval must be a number >= 0.05 (seconds), got True"),
    ("sge", {"pe": ""}, "executors.sge.pe must be a non-empty one-line string, got ''"),
    ("sge", {"account": "a\nb"}, "executors.sge.account must be a non-empty one-line string"),
    ("pbs", {"flavor": 3}, "executors.pbs.flavor must be a non-empty one-line string, got 3"),
    ("pbs", {"setup": ["ok", 1]}, "executors.pbs.setup must be a string or a list of strings"),
    ("slurm", {"shell": "/bin/my bash"}, "executors.slurm.shell must be an absolute path without spaces"),
])
def test_bad_settings_are_refused_in_one_line(tmp_path, name, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        create_executor(name, settings, tmp_path)
    assert "\n" not in str(caught.value)


def test_settings_are_converted_to_their_types(tmp_path):
    s = create_executor("slurm", {"poll_interval": 1, "setup": "a\n\nb\n", "account": "  econ ", "queue": "q",
                                  "export_env": None}, tmp_path).settings
    assert s.poll_interval == 1.0 and isinstance(s.poll_interval, float)
    assert s.setup == ["a", "b"] and s.account == "econ" and s.export_env is True and s.target_queue == "q"
    with pytest.raises(dataclasses.FrozenInstanceError):  # frozen: an executor cannot change its settings behind the docs' back
        s.maxsize = 3  # type: ignore[misc]


def test_executors_command_lists_builtins_with_their_settings(project):
    listed = json.loads(project.run("executors", "--json", check=True).stdout)
    builtin = {e["name"]: e for e in listed if e["origin"] == "built-in"}
    assert set(builtin) == {"local", "slurm", "sge", "pbs", "dask"}
    poll = next(s for s in builtin["sge"]["settings"] if s["name"] == "poll_interval")
    assert poll == {"name": "poll_interval", "type": "number >= 0.05", "default": "5", "unit": "seconds",
                    "help": "time between two status queries covering all jobs in flight"}
    assert [s["name"] for s in builtin["pbs"]["settings"]][-1] == "flavor"
    text = project.run("executors", "local", check=True).stdout
    assert text.startswith("local (built-in): Subprocesses of this machine")
    assert re.search(r"maxsize\s+integer >= 0\s+the number of CPUs\s+tasks\s+how many tasks run at once", text)
    assert "slurm" not in text


def test_executors_command_refuses_an_unknown_name(project):
    proc = project.run("executors", "slurmm", check=False)
    assert proc.returncode == 2
    [line] = proc.stderr.strip().splitlines()  # other installed executors may be listed too
    assert line.startswith("scriptflow: error: unknown executor 'slurmm' (available: dask, local, pbs, sge, slurm")
    assert "executors" in project.run("--help", check=True).stdout


def test_a_setting_refused_as_the_run_starts_records_the_run_failed(project):
    """Executor settings are checked when the run's engine starts (a Dask cluster is set up there
    too): the run is recorded failed with the one-line error, never left "running" for the next
    run to report lost."""
    project.flow("def flow_main():\n    sf.Task(['true'], name='t').result()\n")
    project.write("scriptflow.toml", 'executor = "slurm"\n[executors.slurm]\npoll_interval = 0.001\n')
    proc = project.run("run", "main", check=False)
    message = "executors.slurm.poll_interval must be a number >= 0.05 (seconds), got 0.001"
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"scriptflow: error: {message}"
    assert [tuple(r) for r in project.query("SELECT status, exit_code, error FROM runs")] == [("failed", 2, message)]
    project.write("scriptflow.toml", "")
    project.run("run", "main", check=True)
    assert [tuple(r) for r in project.query("SELECT status, error FROM runs ORDER BY id")] == [
        ("failed", message), ("succeeded", None)]


def test_a_plug_ins_settings_may_say_none_either_way(tmp_path):
    """``X | None`` (Python 3.10's spelling) is read as ``Optional[X]`` is: checked, converted and
    listed as X; it was refused as an unsupported type."""
    from scriptflow.executors import ExecutorSettings, setting

    @dataclasses.dataclass(frozen=True)
    class Both(ExecutorSettings):
        old: Optional[int] = setting(None, "spelled Optional[int]")
        new: int | None = setting(None, "spelled int | None")
        names: list[str] | None = setting(None, "a list or nothing")

    got = Both.from_config("both", {"old": 3, "new": 4, "names": "a\nb"})
    assert (got.old, got.new, got.names) == (3, 4, ["a", "b"])
    assert Both.from_config("both", {}).new is None
    with pytest.raises(ConfigError, match=r"executors\.both\.new must be"):
        Both.from_config("both", {"new": "four"})
    listed = {doc.name: doc for doc in Both.describe()}
    assert listed["new"].type == listed["old"].type
