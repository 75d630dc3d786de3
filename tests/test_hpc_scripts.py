"""Cluster executors without a scheduler: job scripts, units, config errors, and parsing.

- Job scripts of ``slurm``, ``sge`` and ``pbs`` are generated for real attempts and *run* here
  with bash, as a scheduler would run them: the command's output must be byte-identical to
  running it as the local executor does, and the wrapper must write the exit file.
- Parsers are tested against scheduler outputs in ``tests/fixtures/hpc/``. The SLURM and Grid
  Engine ones are recorded from the live schedulers of ``tests/services/``. The PBS/Torque and
  PBS Professional ones are NOT from a live scheduler (none is installable on Debian): they are
  written in the exact format of real Torque/PBS Pro output as documented (see
  ``tests/fixtures/hpc/README.md``). The ``pbs`` executor is therefore tested only here, while
  ``slurm`` and ``sge`` also run end to end in ``test_hpc_live.py``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import PY
from scriptflow.errors import ConfigError
from scriptflow.executors.base import Attempt
from scriptflow.executors.registry import create_executor
from scriptflow.executors.cluster.jobscript import command_line, epoch_to_text, exit_path_for, read_exit_file
from scriptflow.executors.cluster.resources import Resources, parse_mem_mb, parse_time_seconds
from scriptflow.executors.cluster.qsub import (parse_pbs_qstat_f, parse_pbs_qsub, parse_qacct, parse_qsub_terse,
                                       parse_sge_qstat_xml, pbs_final, pbs_gone_ids, pbs_statuses)
from scriptflow.executors.cluster.slurm import (array_ids, parse_max_array_size, parse_sacct, parse_sbatch,
                                                parse_scontrol, parse_squeue, slurm_time)

FIXTURES = Path(__file__).parent / "fixtures" / "hpc"
TORTURE = ["two  words", "it's", 'say "hi"', "$HOME", "${PATH:-x}", "back\\slash", "\\", "tab\there", "new\nline",
           "ünïcödé ☃", "*", "; echo no", "`echo no`", "$(echo no)", "", "-n", "%s %j", "!"]
DUMP = ("import json, os, sys; sys.stdout.write(json.dumps({'argv': sys.argv[1:], 'env': os.environ.get('SF_X'), "
        "'cwd': os.path.basename(os.getcwd())}, ensure_ascii=False))")


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def make_attempt(tmp_path: Path, command, *, shell: bool = False, resources: dict | None = None,
                 env: dict | None = None, cwd: Path | None = None, uid: str = "solve 1") -> Attempt:
    cwd = cwd or tmp_path
    logs = tmp_path / ".scriptflow" / "logs" / "7"
    return Attempt(run_id=7, attempt_id=70, task_uid=uid, number=2, command=command, shell=shell, cwd=cwd,
                   env=env or {}, stdout_path=logs / "solve_1.2.out", stderr_path=logs / "solve_1.2.err",
                   resources=resources or {})


def script_for(tmp_path: Path, name: str, attempt: Attempt, settings: dict | None = None) -> Path:
    executor = create_executor(name, settings or {}, tmp_path / ".scriptflow")
    script = executor._script_path(attempt)
    executor.write_script(attempt, script)
    return script


def run_like_a_scheduler(script: Path, attempt: Attempt) -> int:
    """Run a job script the way a scheduler does: its own interpreter, logs to the attempt's files."""
    attempt.stdout_path.parent.mkdir(parents=True, exist_ok=True)
    with open(attempt.stdout_path, "wb") as out, open(attempt.stderr_path, "wb") as err:
        return subprocess.run([str(script)], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                              cwd="/").returncode


def header(script: Path, prefix: str) -> list[str]:
    return [line[len(prefix) + 1:] for line in script.read_text().splitlines() if line.startswith(prefix + " ")]


# -- units ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, mb", [("4G", 4096), ("500M", 500), ("1.5G", 1536), ("4GB", 4096), ("2GiB", 2048),
                                      ("512K", 1), ("1T", 1024 * 1024), (300, 300), ("300", 300), ("4g", 4096)])
def test_memory_units(text, mb):
    assert parse_mem_mb(text) == mb


@pytest.mark.parametrize("text, seconds", [("2:00:00", 7200), ("0:10:00", 600), ("10:00", 600), ("1:30", 90),
                                           (30, 1800), ("30", 1800), ("1-12:00:00", 129600), ("2-0", 172800),
                                           ("1-2:30", 95400), ("90m", 5400), ("2h", 7200), ("1d", 86400),
                                           ("45s", 45), ("48:00:00", 172800)])
def test_time_units(text, seconds):
    assert parse_time_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["lots", "4X", "", "-1G", True, "0"])
def test_bad_memory_is_refused_with_the_units(bad):
    with pytest.raises(ValueError, match="mem must be"):
        parse_mem_mb(bad)


@pytest.mark.parametrize("bad", ["soon", "1:2:3:4", "0:00:00", "2:75:00", True, ""])
def test_bad_time_is_refused_with_the_units(bad):
    with pytest.raises(ValueError, match="time must be"):
        parse_time_seconds(bad)


def test_resources_check_every_key():
    res = Resources.from_task({"cpus": 4, "mem": "8G", "time": "1:00:00", "gpus": 2, "directives": "--qos=x"})
    assert (res.cpus, res.mem_mb, res.time_s, res.gpus, res.directives) == (4, 8192, 3600, 2, ["--qos=x"])
    for bad, message in [({"cpus": 0}, "cpus must be a positive integer"), ({"cpus": 1.5}, "cpus must be"),
                         ({"gpus": -1}, "gpus must be a non-negative"), ({"directives": [1]}, "directives must be")]:
        with pytest.raises(ValueError, match=message):
            Resources.from_task(bad)
    assert slurm_time(7200) == "02:00:00" and slurm_time(129600) == "1-12:00:00"


# -- job scripts ------------------------------------------------------------------------------------


def test_slurm_script_directives_and_submission(tmp_path):
    attempt = make_attempt(tmp_path, ["echo", "hi"],
                           resources={"cpus": 2, "mem": "4G", "time": "2:00:00", "gpus": 1, "directives": ["--qos=short"]})
    script = script_for(tmp_path, "slurm", attempt, {"partition": "gpu", "account": "proj42",
                                                     "directives": ["--constraint=avx2"]})
    assert script == tmp_path / ".scriptflow" / "jobs" / "7" / f"{script.stem}.sh"
    assert re.fullmatch(r"solve_1\+[0-9a-f]{8}\.2", script.stem)  # sanitised, and never shared by two uids
    assert header(script, "#SBATCH") == [
        "--job-name=sf-solve_1", "--partition=gpu", "--account=proj42", "--cpus-per-task=2", "--mem=4096M",
        "--time=02:00:00", "--gres=gpu:1", "--export=ALL", "--constraint=avx2", "--qos=short"]
    assert script.read_text().startswith("#!/bin/bash\n") and os.access(script, os.X_OK)
    executor = create_executor("slurm", {}, tmp_path / ".scriptflow")
    attempt.stdout_path = tmp_path / "100%" / "x.out"
    assert executor.submit_argv(script, attempt) == [
        "sbatch", "--parsable", f"--output={tmp_path}/100%%/x.out", f"--error={attempt.stderr_path}", str(script)]


def test_sge_script_directives_per_slot_memory(tmp_path):
    attempt = make_attempt(tmp_path, ["true"], resources={"cpus": 2, "mem": "4G", "time": "2:00:00", "gpus": 1})
    script = script_for(tmp_path, "sge", attempt, {"queue": "all.q", "account": "proj42", "pe": "mpi"})
    assert header(script, "#$") == ["-N sf-solve_1", "-S /bin/bash", "-V", "-q all.q", "-A proj42", "-pe mpi 2",
                                    "-l h_vmem=2048M,h_rt=02:00:00,gpu=1"]
    one = script_for(tmp_path, "sge", make_attempt(tmp_path, ["true"], resources={"mem": "100M"}, uid="one"),
                     {"mem_resource": "mem_free", "export_env": False})
    assert header(one, "#$") == ["-N sf-one", "-S /bin/bash", "-l mem_free=100M"]
    executor = create_executor("sge", {}, tmp_path / ".scriptflow")
    assert executor.submit_argv(script, attempt)[:2] == ["qsub", "-terse"]


def test_pbs_script_directives_torque_and_pbspro(tmp_path):
    res = {"cpus": 2, "mem": "4G", "time": "2:00:00", "gpus": 1}
    attempt = make_attempt(tmp_path, ["true"], resources=res, uid="a-rather-long-task-name")
    torque = script_for(tmp_path, "pbs", attempt, {"queue": "batch"})
    assert header(torque, "#PBS") == ["-N sf-a-rather-lon", "-S /bin/bash", "-V", "-q batch",
                                      "-l nodes=1:ppn=2:gpus=1,mem=4096mb,walltime=02:00:00"]
    pro = script_for(tmp_path, "pbs", attempt, {"flavor": "pbspro", "export_env": False})
    assert header(pro, "#PBS") == ["-N sf-a-rather-long-task-name", "-S /bin/bash",
                                   "-l select=1:ncpus=2:mem=4096mb:ngpus=1", "-l walltime=02:00:00"]
    executor = create_executor("pbs", {}, tmp_path / ".scriptflow")
    assert executor.submit_argv(torque, attempt) == ["qsub", "-o", str(attempt.stdout_path), "-e",
                                                     str(attempt.stderr_path), str(torque)]


@pytest.mark.parametrize("name", ["slurm", "sge", "pbs"])
def test_job_script_runs_the_command_exactly_as_locally(tmp_path, name):
    folder = tmp_path / "wörk dir"
    folder.mkdir()
    env = {"SF_X": "it's \"$x\" \\ ☃"}
    argv = [PY, "-c", DUMP, *TORTURE]
    attempt = make_attempt(tmp_path, argv, env=env, cwd=folder)
    script = script_for(tmp_path, name, attempt)
    assert run_like_a_scheduler(script, attempt) == 0
    local = subprocess.run(argv, cwd=folder, env={**os.environ, **env}, capture_output=True).stdout
    assert attempt.stdout_path.read_bytes() == local
    assert json.loads(local) == {"argv": TORTURE, "env": env["SF_X"], "cwd": "wörk dir"}
    assert attempt.stderr_path.read_bytes() == b""
    info = read_exit_file(exit_path_for(script))
    assert info is not None and info["exit_code"] == "0" and info["host"]
    assert epoch_to_text(info["started"]) <= epoch_to_text(info["ended"])
    assert not list(script.parent.glob("*.tmp.*"))  # written through a temp file, then renamed

    shell = "X='a  b'; printf '[%s]\\n' \"$X\" $X \"it's\" \"\\$HOME\" 'back\\slash' \"$SF_X\" \"$(basename \"$PWD\")\""
    attempt = make_attempt(tmp_path, shell, shell=True, env=env, cwd=folder, uid="shell")
    script = script_for(tmp_path, name, attempt)
    assert run_like_a_scheduler(script, attempt) == 0
    local = subprocess.run(shell, shell=True, cwd=folder, env={**os.environ, **env}, capture_output=True).stdout
    assert attempt.stdout_path.read_bytes() == local
    assert local.decode().splitlines() == ["[a  b]", "[a]", "[b]", "[it's]", "[$HOME]", "[back\\slash]",
                                           f"[{env['SF_X']}]", "[wörk dir]"]


def test_a_program_named_like_a_shell_builtin_runs_the_program(tmp_path):
    assert command_line(["printf", "%s|", "-n", "x"], False) == "env -- printf '%s|' -n x"
    assert command_line(["python3", "-c", "print(1)"], False) == "python3 -c 'print(1)'"
    assert command_line("echo $HOME", True) == "/bin/sh -c 'echo $HOME'"
    attempt = make_attempt(tmp_path, ["echo", "-e", "a\\tb"])  # /bin/echo prints "-e a\tb" literally
    script = script_for(tmp_path, "slurm", attempt)
    run_like_a_scheduler(script, attempt)
    assert attempt.stdout_path.read_bytes() == subprocess.run(["echo", "-e", "a\\tb"], capture_output=True).stdout


def test_exit_file_records_failures_setup_errors_and_bad_folders(tmp_path):
    code = "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"
    attempt = make_attempt(tmp_path, [PY, "-c", code])
    script = script_for(tmp_path, "sge", attempt)
    assert run_like_a_scheduler(script, attempt) == 3
    assert read_exit_file(exit_path_for(script))["exit_code"] == "3"
    assert attempt.stderr_path.read_text() == "boom\n"

    marker = tmp_path / "ran"
    attempt = make_attempt(tmp_path, ["touch", str(marker)], uid="setup")
    script = script_for(tmp_path, "slurm", attempt, {"setup": ["export A=1", "test -n \"$A\"  # a comment", "false"]})
    assert run_like_a_scheduler(script, attempt) == 1
    info = read_exit_file(exit_path_for(script))
    assert info["exit_code"] == "1" and info["error"] == "setup failed: false"
    assert not marker.exists()

    attempt = make_attempt(tmp_path, ["touch", str(marker)], uid="modules", cwd=tmp_path / "gone away")
    script = script_for(tmp_path, "slurm", attempt, {"modules": ["gcc/12"]})
    assert "{ module load gcc/12\n} || sf_finish $? 'setup failed: module load gcc/12'" in script.read_text()
    run_like_a_scheduler(script, attempt)  # no `module` command here: the setup step fails, clearly
    assert read_exit_file(exit_path_for(script))["error"] == "setup failed: module load gcc/12"

    attempt = make_attempt(tmp_path, ["touch", str(marker)], uid="cwd", cwd=tmp_path / "gone away")
    script = script_for(tmp_path, "pbs", attempt)
    assert run_like_a_scheduler(script, attempt) == 1
    assert read_exit_file(exit_path_for(script))["error"] == f"cannot change to the task folder {tmp_path}/gone away"
    assert not marker.exists()


def test_bad_environment_name_is_refused(tmp_path):
    attempt = make_attempt(tmp_path, ["true"], env={"NOT-VALID": "1"})
    with pytest.raises(ValueError, match="environment variable name 'NOT-VALID'"):
        script_for(tmp_path, "slurm", attempt)


# -- configuration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, settings, message", [
    ("slurm", {"pool_interval": 1}, "executors.slurm: unknown setting 'pool_interval'"),
    ("slurm", {"maxsize": 0}, "executors.slurm.maxsize must be a positive integer, got 0"),
    ("sge", {"poll_interval": "fast"}, "executors.sge.poll_interval must be a number >= 0.05 (seconds)"),
    ("sge", {"submit_rate": -1}, "executors.sge.submit_rate must be a number >= 0 (submissions per second)"),
    ("pbs", {"flavor": "lsf"}, "executors.pbs.flavor must be 'torque' or 'pbspro'"),
    ("slurm", {"partition": "a", "queue": "b"}, "give either 'partition' or 'queue'"),
    ("slurm", {"modules": 3}, "executors.slurm.modules must be a string or a list of strings"),
    ("sge", {"shell": "bash"}, "executors.sge.shell must be an absolute path"),
    ("sge", {"export_env": "yes"}, "executors.sge.export_env must be true or false"),
    ("pbs", {"command_timeout": 0}, "executors.pbs.command_timeout must be a number > 0"),
])
def test_config_errors_name_the_key(tmp_path, name, settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        create_executor(name, settings, tmp_path)


def test_config_from_sf_init_and_bad_task_resources_fail_before_any_submission(project):
    """No scheduler needed: the flow's config reaches the executor, and a task whose resources
    cannot be understood fails with a clear message before anything is submitted."""
    project.flow("""
        sf.init({"executors": {"slurm": {"poll_interval": "often"}}})
        def flow_bad():
            sf.Task(["true"], name="t", executor="slurm").result()
    """)
    proc = project.run("run", "bad", "--classic", check=False)
    assert proc.returncode != 0
    assert "executors.slurm.poll_interval must be a number" in proc.stdout + proc.stderr
    project.flow("""
        sf.init({"executors": {"sge": {"poll_interval": 0.2}}})
        def flow_bad():
            sf.Task(["true"], name="t", executor="sge", mem="lots").result()
    """)
    proc = project.run("run", "bad", "--classic", check=False)
    assert proc.returncode == 1
    row = project.query("SELECT * FROM attempts ORDER BY id DESC LIMIT 1")[0]
    assert row["job_id"] is None and "mem must be like '4G', '500M'" in row["error"], row["error"]


# -- parsing: SLURM (recorded) ------------------------------------------------------------------------


def test_slurm_parsing():
    assert parse_sbatch("42\n") == "42" and parse_sbatch("43;cluster2\n") == "43"
    with pytest.raises(ValueError):
        parse_sbatch("sbatch: error: Batch job submission failed\n")
    live = parse_squeue("51 PENDING\n52 RUNNING\n53 COMPLETING\n")
    assert {k: (v.live, v.running) for k, v in live.items()} == {
        "51": (True, False), "52": (True, True), "53": (True, True)}
    finals = parse_sacct(fixture("slurm_sacct.txt"))
    assert (finals["14"].exit_code, finals["14"].error) == (3, "exit code 3 (job FAILED, per sacct)")
    assert finals["15"].exit_code is None and "CANCELLED by 0" in finals["15"].error
    assert (finals["16"].exit_code, finals["16"].error) == (0, None)
    assert finals["17"].exit_code == -9 and "signal 9" in finals["17"].error
    assert finals["18"].exit_code is None and "TIMEOUT" in finals["18"].error
    assert "19" not in finals  # still running: not final
    assert parse_scontrol(fixture("slurm_scontrol_14.txt"))["14"].exit_code == 3


# -- parsing: Grid Engine (recorded) ----------------------------------------------------------------


def test_sge_parsing():
    assert parse_qsub_terse("19\n") == "19" and parse_qsub_terse("20.1-10:1\n") == "20"
    jobs = parse_sge_qstat_xml(fixture("sge_qstat.xml"))
    assert {k: (v.state, v.live, v.running, bool(v.error)) for k, v in jobs.items()} == {
        "19": ("r", True, True, False), "20": ("hqw", True, False, False), "21": ("Eqw", True, False, True)}
    done = parse_qacct(fixture("sge_qacct_exit3.txt"))
    assert (done.exit_code, done.error) == (3, "exit code 3 (per qacct)")
    killed = parse_qacct(fixture("sge_qacct_qdel.txt"))
    assert killed.exit_code == -9 and "failed 100 : assumedly after job" in killed.error
    assert parse_qacct("") is None


# -- parsing: PBS (documented formats, not a live scheduler) ------------------------------------------


def test_torque_parsing():
    assert parse_pbs_qsub(fixture("torque_qsub.txt")) == "4242.torque01.example.org"
    jobs = parse_pbs_qstat_f(fixture("torque_qstat_f.txt"))
    assert list(jobs) == [f"{n}.torque01.example.org" for n in (4242, 4243, 4244, 4245)] + \
        ["4246", "4247.torque01.example.org"]
    running = jobs["4242.torque01.example.org"]
    assert running["Output_Path"] == "login01.example.org:/home/alice/proj/.scriptflow/logs/1/t1-sq-3.1.out"
    assert running["Resource_List.nodes"] == "1:ppn=2" and running["Resource_List.mem"] == "100mb"
    assert running["Variable_List"].endswith("PBS_O_HOST=login01.example.org,PBS_O_SERVER=torque01.example.org")
    assert "error from copy" in jobs["4245.torque01.example.org"]["sched_hint"]
    assert jobs["4245.torque01.example.org"]["exit_status"] == "271"
    statuses = pbs_statuses(fixture("torque_qstat_f.txt"))
    assert {k: (v.state, v.live, v.running) for k, v in statuses.items()} == {
        "4242": ("R", True, True), "4243": ("Q", True, False), "4244": ("C", False, False),
        "4245": ("C", False, False), "4246": ("C", False, False), "4247": ("C", False, False)}
    assert (statuses["4244"].final.exit_code, statuses["4244"].final.error) == (3, "exit code 3 (per qstat)")
    assert statuses["4245"].final.exit_code == -15 and "signal 15" in statuses["4245"].final.error
    assert (statuses["4246"].final.exit_code, statuses["4246"].final.error) == (0, None)
    assert statuses["4247"].final.exit_code is None and "memory limit" in statuses["4247"].final.error
    assert statuses["4242"].final is None
    assert pbs_gone_ids(fixture("torque_qstat_unknown.err")) == {"4250", "4251"}
    assert pbs_gone_ids("qstat: cannot connect to server torque01 (errno=111) Connection refused\n") is None


def test_pbspro_parsing():
    assert parse_pbs_qsub(fixture("pbspro_qsub.txt")) == "8123.pbs01"
    statuses = pbs_statuses(fixture("pbspro_qstat_xf.txt"))
    assert {k: (v.state, v.live) for k, v in statuses.items()} == {
        "8123": ("F", False), "8124": ("R", True), "8125": ("F", False)}
    assert statuses["8123"].final.exit_code == 3 and statuses["8125"].final.exit_code == 0
    attrs = parse_pbs_qstat_f(fixture("pbspro_qstat_xf.txt"))["8123.pbs01"]
    assert attrs["Submit_arguments"].endswith("/home/alice/proj/.scriptflow/jobs/2/t2-fail.1.sh")
    assert pbs_gone_ids(fixture("pbspro_qstat_finished.err")) == {"8120"}
    assert pbs_final({"job_state": "F", "Exit_status": "-11"}).error.startswith("PBS: job exceeded a walltime limit")


def test_timeout_is_the_walltime_when_no_time_is_given(tmp_path):
    assert Resources.from_task({"timeout": 90}).time_s == 90
    assert Resources.from_task({"timeout": 0.5}).time_s == 1  # whole seconds, rounded up
    assert Resources.from_task({"timeout": 90, "time": "2:00:00"}).time_s == 7200  # time= wins
    attempt = make_attempt(tmp_path, ["true"], resources={"timeout": 5400})
    assert "--time=01:30:00" in header(script_for(tmp_path, "slurm", attempt), "#SBATCH")
    assert "-l h_rt=01:30:00" in header(script_for(tmp_path, "sge", attempt), "#$")


def test_slurm_array_element_ids_in_accounting():
    """Array elements are found under the ids scriptflow records (``ARRAY_INDEX``), also when they
    never started and SLURM keeps them as one record (``123_[0-4]``, sacct/scontrol as printed by
    SLURM 22.05 here)."""
    assert array_ids("1283_[0-2,7%2]") == ["1283_0", "1283_1", "1283_2", "1283_7"]
    assert array_ids("965") == ["965"] and array_ids("965_2") == ["965_2"]
    finals = parse_sacct("966|COMPLETED|0:0|965_0\n967|FAILED|1:0|965_1\n1283|CANCELLED by 0|0:0|1283_[0-4]\n")
    assert finals["965_0"].exit_code == 0 and finals["965_1"].exit_code == 1 and finals["967"].exit_code == 1
    assert {i for i in finals if i.startswith("1283_")} == {f"1283_{i}" for i in range(5)}
    assert "CANCELLED" in finals["1283_3"].state
    assert "CANCELLED" in parse_sacct("1349|CANCELLED by 0|0:0|1349\n")["1349_*"].state  # whole array, later
    show = "JobId=967 ArrayJobId=965 ArrayTaskId=1 JobState=FAILED Reason=NonZeroExitCode ExitCode=1:0\n"
    assert parse_scontrol(show)["965_1"].exit_code == 1
    assert parse_squeue("965_0 RUNNING\n965_1 PENDING\n")["965_1"].live
    assert parse_max_array_size("MaxArraySize            = 1001\nMaxJobCount = 10000\n") == 1001
    assert parse_max_array_size("nothing here") is None
