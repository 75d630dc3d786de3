"""The ``slurm`` and ``sge`` executors against real schedulers: SLURM 22.05
(tests/services/slurm_up.sh) and Son of Grid Engine 8.1.9 (tests/services/sge_up.sh).

No mocks: the real ``scriptflow`` command submits real jobs; the scheduler's own commands are
the witnesses. Every scenario runs once per scheduler (``test_x[slurm]``, ``test_x[sge]``, marked
``slurm``/``sge``) so that the two executors are held to the same assertions by the same code;
where the schedulers really differ (their accounting, their words) a scenario says so with
``if scheduler == ...``. Each test skips without its scheduler, and fails instead where CI sets
SCRIPTFLOW_REQUIRE_SERVICES=slurm,sge.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import wait_for_file, wait_until
from hpc_helpers import (accounted_exit, attempts, fake_status_command, finish, job_ids_in_ledger, job_order,
                         jobs_named, live_jobs, need_scheduler, recorded_jobs, running_jobs, show_job, tag, write_flow)
from scriptflow.executors.cluster.jobscript import epoch_to_text, read_exit_file


@pytest.fixture(params=[pytest.param("slurm", marks=pytest.mark.slurm), pytest.param("sge", marks=pytest.mark.sge)])
def scheduler(request) -> str:
    """The scheduler a test runs against; skips (or fails, where required) when it is not up."""
    need_scheduler(request.param)
    return request.param


SQUARE = "import sys; i = int(sys.argv[1]); open(sys.argv[2], 'w').write(str(i * i))"
SUM = "import sys; open('sum.txt', 'w').write(str(sum(int(open(p).read()) for p in sys.argv[1:])))"


def test_fan_out_fan_in_of_20_jobs_with_job_ids_in_the_ledger(project, scheduler: str) -> None:
    """19 squares on the scheduler, then their sum: 20 jobs, each job id in the ledger (one job per
    task: job arrays are off here, test_slurm_arrays_live.py and test_sge_arrays_live.py have them)."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_fan():
            parts = [sf.Task([PY, "-c", {SQUARE!r}, str(i), f"sq/{{i}}.txt"], outputs=f"sq/{{i}}.txt",
                             name=f"{t}-sq-{{i}}").start() for i in range(19)]
            sf.Task([PY, "-c", {SUM!r}] + [f"sq/{{i}}.txt" for i in range(19)], inputs=parts, outputs="sum.txt",
                    name="{t}-sum").result()
    """, default=True, settings={"submit_rate": 20, "arrays": False})
    (project.path / "sq").mkdir()
    project.run("run", "fan", "--classic", check=True)
    assert project.read("sum.txt") == str(sum(i * i for i in range(19)))
    rows = attempts(project)
    assert len(rows) == 20 and {r["status"] for r in rows} == {"succeeded"}
    assert {r["executor"] for r in rows} == {scheduler}
    # submit_rate 20/s: the 19 squares (submitted together) spread over at least 18/20 s. Each job
    # script is written right before its submission, so the scripts' mtimes are the submission times.
    submitted = sorted((project.path / r["job_script"]).stat().st_mtime for r in rows if r["uid"] != f"{t}-sum")
    assert submitted[-1] - submitted[0] >= 18 / 20 - 0.05, submitted
    ids = [r["job_id"] for r in rows]
    assert all(ids) and len(set(ids)) == 20, ids
    run_id = project.last_run()["id"]
    for r in rows:
        assert not r["job_script"].startswith("/"), r["job_script"]  # project-relative, like every ledger path
        script = project.path / r["job_script"]
        assert script.parent == project.path / ".scriptflow" / "jobs" / str(run_id), script
        assert script.read_text().startswith("#!/bin/bash\n")
        assert "exit_code=0\n" in script.with_suffix(".exit").read_text()
        assert r["exit_code"] == 0 and r["started_at"] and r["ended_at"]
        # The ledger has when and where the command really ran (the exit file), not the submission.
        ran = read_exit_file(script.with_suffix(".exit"))
        assert ran is not None and r["host"] == ran["host"], (dict(r), ran)
        assert r["started_at"] == epoch_to_text(ran["started"]) and r["ended_at"] == epoch_to_text(ran["ended"])
    # The scheduler ran exactly these 20 jobs for this flow (accounting may lag the exit file a little).
    wait_until(lambda: sorted(jobs_named(scheduler, f"sf-{t}-"), key=job_order) == sorted(ids, key=job_order),
               "the 20 jobs in the scheduler's accounting", 30, 0.2)
    # A second run submits nothing: every task is cached.
    project.run("run", "fan", "--classic", check=True)
    assert set(project.statuses().values()) == {"cached"}
    assert len(jobs_named(scheduler, f"sf-{t}-")) == 20


def test_failing_job_exit_code_and_stderr(project, scheduler: str) -> None:
    """Exit 3 in a job: seen with its exit code and stderr, retried as a new job, then failed."""
    t = tag()
    code = "import sys; print('to stdout'); sys.stderr.write('boom: bad input\\n'); sys.exit(3)"
    write_flow(project, scheduler, f"""
        def flow_fail():
            sf.Task([PY, "-c", {code!r}], outputs="never.txt", name="{t}-fail", executor=EX, retry=1).result()
    """)
    proc = project.run("run", "fail", "--classic", check=False)
    assert proc.returncode == 1
    assert "boom: bad input" in proc.stdout + proc.stderr and "3" in proc.stdout + proc.stderr
    rows = attempts(project)
    assert [r["number"] for r in rows] == [1, 2]
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert [r["exit_code"] for r in rows] == [3, 3]
    assert all("exit code 3" in r["error"] for r in rows)
    assert rows[0]["job_id"] != rows[1]["job_id"]
    for r in rows:
        assert (project.path / r["stderr_path"]).read_text() == "boom: bad input\n"
        assert (project.path / r["stdout_path"]).read_text() == "to stdout\n"
    assert project.statuses() == {f"{t}-fail": "failed"}
    # The scheduler agrees.
    expected = "FAILED 3:0" if scheduler == "slurm" else "0 3"
    assert accounted_exit(scheduler, rows[0]["job_id"]) == expected


def test_a_watched_job_calls_back_while_it_runs(project, scheduler: str) -> None:
    """t.watch on a cluster job: its log file on the shared filesystem is followed while the job
    runs (the job waits for a file only the callback makes), every match is recorded."""
    t = tag()
    code = ("import os, sys, time\nprint('loss=0.9', flush=True)\ndeadline = time.time() + 120\n"
            "while not os.path.exists('go'):\n    time.sleep(0.05)\n    time.time() > deadline and sys.exit(9)\n"
            "print('loss=0.1')\nopen('w.txt', 'w').write('w')\n")
    write_flow(project, scheduler, f"""
        seen = []
        def on_loss(event):
            seen.append(event.groups[0])
            open("go", "w").close()
        def flow_watched():
            sf.Task([PY, "-c", {code!r}], outputs="w.txt", name="{t}-w", executor=EX).watch(r"loss=(\\S+)", on_loss).result()
            open("seen.txt", "w").write(",".join(seen))
    """)
    project.run("run", "watched", "--classic", check=True)
    assert project.read("seen.txt") == "0.9,0.1"
    rows = project.query("SELECT task_uid, detail FROM events WHERE kind = 'watch' ORDER BY id")
    assert [(r["task_uid"], json.loads(r["detail"])["groups"]) for r in rows] == [(f"{t}-w", ["0.9"]),
                                                                                 (f"{t}-w", ["0.1"])]
    assert attempts(project)[0]["job_id"]


def test_no_submission_after_a_failure(project, scheduler: str) -> None:
    """maxsize 1: a task waiting inside scriptflow for a free slot is never submitted once another
    task has failed (no --keep-going)."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_stop():
            import time
            bad = sf.Task([PY, "-c", "import sys; sys.exit(3)"], name="{t}-bad", executor=EX).start()
            time.sleep(0.3)  # bad takes the only slot first (deciding and submitting it takes milliseconds)
            later = sf.Task([PY, "-c", "open('later.txt', 'w')"], outputs="later.txt", name="{t}-later",
                            executor=EX).start()
            sf.bag(bad, later)
    """, settings={"maxsize": 1})
    proc = project.run("run", "stop", "--classic", check=False, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert project.statuses() == {f"{t}-bad": "failed", f"{t}-later": "not-started"}
    assert set(job_ids_in_ledger(project)) == {f"{t}-bad"} and not project.exists("later.txt")


def test_refused_submission_fails_the_attempt_with_the_schedulers_message(project, scheduler: str) -> None:
    """A job the scheduler refuses: the attempt fails with the scheduler's message, retried, no hang."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_refused():
            sf.Task([PY, "-c", "pass"], name="{t}-refused", executor=EX, retry=1).result()
    """, settings={"queue": "no-such-queue.q"})
    proc = project.run("run", "refused", "--classic", check=False, timeout=60)
    assert proc.returncode == 1
    rows = attempts(project)
    assert len(rows) == 2 and all(r["job_id"] is None and r["exit_code"] is None for r in rows)
    word = "sbatch failed" if scheduler == "slurm" else "qsub failed"
    assert all(word in r["error"] and "no-such-queue.q" in r["error"] for r in rows), [r["error"] for r in rows]


def test_resources_reach_the_scheduler(project, scheduler: str) -> None:
    """cpus/mem/time of a task show in ``scontrol show job`` / ``qstat -j`` while the job runs."""
    t = tag()
    report = ("import os; open('seen.txt', 'w').write(os.environ.get('SLURM_CPUS_PER_TASK', '') + ' ' + "
              "os.environ.get('NSLOTS', ''))")
    write_flow(project, scheduler, f"""
        def flow_res():
            sf.Task([PY, "-c", {wait_for_file('go', report)!r}], outputs="seen.txt", name="{t}-big",
                    executor=EX, cpus=2, mem="100M", time="0:10:00").result()
    """)
    proc = project.popen("run", "res", "--classic")
    try:
        job = wait_until(lambda: recorded_jobs(project, [f"{t}-big"]), "the job id in the ledger", 60, 0.1)
        job_id = job[f"{t}-big"]
        text = show_job(scheduler, job_id)
        if scheduler == "slurm":
            assert "NumCPUs=2" in text and "CPUs/Task=2" in text, text
            assert "MinMemoryNode=100M" in text and "TimeLimit=00:10:00" in text, text
        else:
            assert re.search(r"parallel environment:\s+smp range: 2", text), text
            # mem is per job; Grid Engine's h_vmem is per slot: 100M over 2 slots.
            assert re.search(r"hard resource_list:\s+.*h_vmem=50M", text), text
            assert "h_rt=600" in text, text
    finally:
        (project.path / "go").write_text("")
    code, out, err = finish(proc)
    assert code == 0, out + err
    seen = project.read("seen.txt").split(" ")
    assert seen == (["2", ""] if scheduler == "slurm" else ["", "2"]), seen
    row = attempts(project)[0]
    assert json.loads(row["resources"]) == {"cpus": 2, "mem": "100M", "time": "0:10:00"}


def test_timeout_is_the_jobs_walltime(project, scheduler: str) -> None:
    """A task's timeout= (seconds) with no time= is the walltime the scheduler enforces."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_limit():
            sf.Task([PY, "-c", {wait_for_file('go', "open('done.txt', 'w').write('ok')")!r}], outputs="done.txt",
                    name="{t}-limited", executor=EX, timeout=600).result()
    """)
    proc = project.popen("run", "limit", "--classic")
    try:
        job = wait_until(lambda: recorded_jobs(project, [f"{t}-limited"]), "the job id in the ledger", 60, 0.1)
        text = show_job(scheduler, job[f"{t}-limited"])
        assert ("TimeLimit=00:10:00" if scheduler == "slurm" else "h_rt=600") in text, text
    finally:
        (project.path / "go").write_text("")
    code, out, err = finish(proc)
    assert code == 0, out + err
    assert json.loads(attempts(project)[0]["resources"]) == {"timeout": 600}


TORTURE = ["plain", "two  words", "it's", 'say "hi"', "$HOME", "${PATH:-x}", "back\\slash", "\\", "tab\there",
           "new\nline", "ünïcödé ☃ 日本", "*", "; rm -rf nope", "`echo no`", "$(echo no)", "", "-n", "%s %j %%",
           "!", "a'b\"c$d\\e"]
DUMP = ("import json, os, sys; open(sys.argv[1], 'w', encoding='utf-8').write(json.dumps("
        "{'argv': sys.argv[2:], 'env': os.environ['SF_TORTURE'], 'cwd': os.path.basename(os.getcwd())}, "
        "ensure_ascii=False))")
SHELL = ("X='a  b'; printf '[%s]\\n' \"$X\" $X \"it's\" 'say \"hi\"' \"\\$HOME\" 'back\\slash' \"ünï ☃\" "
         "\"$SF_TORTURE\" \"$(basename \"$PWD\")\" > shell-{ex}.txt")
TORTURE_ENV = "it's \"$x\" \\ ☃ `no`"


def test_quoting_torture_identical_to_local(project, scheduler: str) -> None:
    """The same nasty argv and shell string, local and on the scheduler: byte-identical outputs."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_quote():
            tasks = []
            for ex in ("local", EX):
                tasks.append(sf.Task([PY, "-c", {DUMP!r}, f"argv-{{ex}}.json"] + {TORTURE!r},
                                     outputs=f"argv-{{ex}}.json", name=f"{t}-argv-{{ex}}", executor=ex,
                                     cwd="wörk dir", env={{"SF_TORTURE": {TORTURE_ENV!r}}}).start())
                tasks.append(sf.Task({SHELL!r}.replace("{{ex}}", ex), shell=True, outputs=f"shell-{{ex}}.txt",
                                     name=f"{t}-shell-{{ex}}", executor=ex, cwd="wörk dir",
                                     env={{"SF_TORTURE": {TORTURE_ENV!r}}}).start())
            sf.bag(*tasks)
    """)
    (project.path / "wörk dir").mkdir()
    project.run("run", "quote", "--classic", check=True)
    folder = project.path / "wörk dir"
    local, remote = (folder / "argv-local.json").read_bytes(), (folder / f"argv-{scheduler}.json").read_bytes()
    assert remote == local
    assert json.loads(local) == {"argv": TORTURE, "env": TORTURE_ENV, "cwd": "wörk dir"}
    local, remote = (folder / "shell-local.txt").read_bytes(), (folder / f"shell-{scheduler}.txt").read_bytes()
    assert remote == local
    assert local.decode().splitlines() == ["[a  b]", "[a]", "[b]", "[it's]", '[say "hi"]', "[$HOME]",
                                           "[back\\slash]", "[ünï ☃]", f"[{TORTURE_ENV}]", "[wörk dir]"]
    assert set(job_ids_in_ledger(project)) == {f"{t}-argv-{scheduler}", f"{t}-shell-{scheduler}"}


def test_sigint_cancels_every_job(project, scheduler: str) -> None:
    """Ctrl-C of a running ``scriptflow run``: its jobs leave the scheduler, the attempts are interrupted."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_long():
            sf.bag(*[sf.Task([PY, "-c", f"import time; open('started-{{i}}', 'w'); time.sleep(120)"],
                             outputs=f"out-{{i}}.txt", name=f"{t}-long-{{i}}", executor=EX) for i in range(3)])
    """, settings={"maxsize": 2})
    proc = project.popen("run", "long", "--classic")
    try:
        ids = wait_until(lambda: recorded_jobs(project, [], at_least=2), "two job ids in the ledger", 60, 0.1)
        wait_until(lambda: all((project.path / f"started-{uid.rsplit('-', 1)[1]}").exists() for uid in ids),
                   "both jobs running", 60, 0.1)
        # maxsize 2: the third task waits inside scriptflow, not in the scheduler.
        assert len(job_ids_in_ledger(project)) == 2
        proc.send_signal(signal.SIGINT)
        code, out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, out + err
    assert live_jobs(scheduler, list(ids.values())) == set()
    rows = attempts(project)
    assert len(rows) == 3, [dict(r) for r in rows]
    assert sorted(r["uid"] for r in rows if r["job_id"]) == sorted(ids)
    assert {r["status"] for r in rows if r["job_id"]} == {"interrupted"}, [dict(r) for r in rows]
    # The third never reached the scheduler (the engine records such an attempt as not started).
    assert [r["status"] for r in rows if not r["job_id"]] in (["not-started"], ["interrupted"]), [dict(r) for r in rows]
    assert project.last_run()["status"] == "interrupted"
    statuses = project.statuses()
    assert sorted(statuses.values()) == ["interrupted", "interrupted", "not-started"], statuses
    if scheduler == "slurm":
        for job_id in ids.values():
            assert accounted_exit(scheduler, job_id).startswith("CANCELLED"), job_id


def test_job_killed_outside_scriptflow_is_judged_by_accounting(project, scheduler: str) -> None:
    """A job killed behind scriptflow's back (``scancel``/``qdel`` by hand) writes no exit file:
    the outcome comes from the scheduler's accounting, and the run ends instead of waiting."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_victim():
            sf.Task([PY, "-c", "import time; open('started', 'w'); time.sleep(120)"], outputs="never.txt",
                    name="{t}-victim", executor=EX).result()
    """)
    proc = project.popen("run", "victim", "--classic")
    try:
        job_id = wait_until(lambda: recorded_jobs(project, [f"{t}-victim"]), "the job id", 60, 0.1)[f"{t}-victim"]
        wait_until(lambda: project.exists("started"), "the job to run", 60, 0.1)
        subprocess.run(["scancel" if scheduler == "slurm" else "qdel", job_id], check=True, capture_output=True)
        code, out, err = finish(proc, 90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 1, out + err
    row = attempts(project)[0]
    assert row["status"] == "failed" and not (project.path / row["job_script"]).with_suffix(".exit").exists()
    if scheduler == "slurm":
        assert row["exit_code"] is None and "CANCELLED" in row["error"] and "sacct" in row["error"], row["error"]
    else:
        assert row["exit_code"] == -9 and "qacct: failed 100" in row["error"], row["error"]


def test_outputs_appearing_late_on_a_shared_filesystem(project, scheduler: str) -> None:
    """Shared filesystems show files late: an output appearing after its job ended (here written by
    the test a second after the job's exit file) is waited for up to output_latency; one that
    never appears fails the task once that time has passed."""
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_late():
            sf.bag(sf.Task([PY, "-c", "pass"], outputs="late.txt", name="{t}-late", executor=EX),
                   sf.Task([PY, "-c", "pass"], outputs="missing.txt", name="{t}-missing", executor=EX))
    """, settings={"output_latency": 4})
    proc = project.popen("run", "late", "--classic")
    try:
        job = wait_until(lambda: recorded_jobs(project, [f"{t}-late"]), "the job id", 60, 0.1)
        row = next(r for r in attempts(project) if r["uid"] == f"{t}-late")
        exit_file = (project.path / row["job_script"]).with_suffix(".exit")
        wait_until(exit_file.exists, f"job {job[f'{t}-late']} to write its exit file", 60, 0.05)
        time.sleep(1)
        (project.path / "late.txt").write_text("late but here")
        code, out, err = finish(proc, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 1, out + err
    assert project.statuses() == {f"{t}-late": "succeeded", f"{t}-missing": "failed"}
    missing = next(r for r in attempts(project) if r["uid"] == f"{t}-missing")
    assert missing["exit_code"] == 0 and "declared output missing.txt was not written" in missing["error"]


def test_kill_9_then_resume_reattaches_without_resubmitting(project, scheduler: str) -> None:
    """``kill -9`` of the runner while two jobs are in the scheduler, then ``scriptflow resume``.

    ``quick`` finishes while no runner is alive; ``slow`` is still running when resume starts.
    Resume re-attaches to both (their job ids carry over to the new run) and submits only
    ``after``, which needs both: the scheduler's accounting shows one job per task. Quick and slow
    are two elements of one job array (a 2 s array_window lets them meet).
    """
    t = tag()
    write_flow(project, scheduler, f"""
        def flow_two():
            quick = sf.Task([PY, "-c", {wait_for_file('release-quick', "open('quick.txt', 'w').write('q')")!r}],
                            outputs="quick.txt", name="{t}-quick", executor=EX).start()
            slow = sf.Task([PY, "-c", {wait_for_file('release-slow', "open('slow.txt', 'w').write('s')")!r}],
                           outputs="slow.txt", name="{t}-slow", executor=EX).start()
            sf.Task(["sh", "-c", "cat quick.txt slow.txt > both.txt"], inputs=[quick, slow], outputs="both.txt",
                    name="{t}-after", executor=EX).result()
    """, settings={"array_window": 2})
    uids = [f"{t}-quick", f"{t}-slow"]
    proc = project.popen("run", "two", "--classic")
    first = project_run_id = None
    try:
        first = wait_until(lambda: recorded_jobs(project, uids), "both job ids in the ledger", 60, 0.1)
        elements = [re.fullmatch(r"(\d+)[_.](\d+)", j) for j in first.values()]  # ARRAY_0 and ARRAY_1, or ARRAY.1, .2
        assert all(elements) and len({m.group(1) for m in elements if m}) == 1, first
        project_run_id = project.last_run()["id"]
        wait_until(lambda: running_jobs(scheduler, list(first.values())) == set(first.values()),
                   "both jobs running", 60, 0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # quick ends while nobody watches.
    (project.path / "release-quick").write_text("")
    wait_until(lambda: (project.path / "quick.txt").exists() and not live_jobs(scheduler, [first[uids[0]]]),
               "quick's job to end", 60, 0.1)
    assert live_jobs(scheduler, [first[uids[1]]]) == {first[uids[1]]}
    resume = project.popen("resume", "--classic")
    try:
        wait_until(lambda: project.last_run()["id"] != project_run_id
                   and {u: j for u, j in recorded_jobs(project, uids, project.last_run()["id"]).items()
                        if u in uids} == first,
                   "the resumed run to re-attach to both jobs", 60, 0.1)
    finally:
        (project.path / "release-slow").write_text("")
    code, out, err = finish(resume)
    assert code == 0, out + err
    assert project.read("both.txt") == "qs"
    run = project.last_run()
    assert run["parent_run_id"] == project_run_id
    assert project.statuses() == {f"{t}-quick": "succeeded", f"{t}-slow": "succeeded", f"{t}-after": "succeeded"}
    assert {u: j for u, j in job_ids_in_ledger(project).items() if u in uids} == first
    events = project.query("SELECT task_uid, detail FROM events WHERE run_id = ? AND kind = 'reattach'", (run["id"],))
    assert {e["task_uid"]: json.loads(e["detail"])["job_id"] for e in events} == first
    assert project.query("SELECT status FROM runs WHERE id = ?", (project_run_id,))[0]["status"] == "lost"
    # One job per task in the scheduler's accounting: nothing was submitted twice.
    expected = sorted(job_ids_in_ledger(project).values(), key=job_order)
    assert len(expected) == 3
    wait_until(lambda: sorted(jobs_named(scheduler, f"sf-{t}-"), key=job_order) == expected,
               "three jobs in the scheduler's accounting", 30, 0.2)
    assert len(jobs_named(scheduler, f"sf-{t}-after")) == 1  # quick and slow: one array, named for both (sf-T-)


def test_status_command_failures_are_tolerated(project, scheduler: str) -> None:
    """The status command fails 3 times in a row while the job runs: logged, retried, the task succeeds."""
    t = tag()
    env = fake_status_command(project, scheduler, fails=3)
    write_flow(project, scheduler, f"""
        def flow_flaky():
            sf.Task([PY, "-c", {wait_for_file('go', "open('done.txt', 'w').write('ok')")!r}], outputs="done.txt",
                    name="{t}-flaky", executor=EX).result()
    """, settings={"poll_failure_timeout": 60})
    proc = project.popen("run", "flaky", "--classic", env={**os.environ, **env})
    try:
        counter = project.path / "status-calls"
        # Calls 1-3 fail; the 4th is answered by the real command while the job still waits for "go".
        wait_until(lambda: counter.exists() and int(counter.read_text() or 0) >= 4, "polls past the failures", 60, 0.1)
    finally:
        (project.path / "go").write_text("")
    code, out, err = finish(proc)
    assert code == 0, out + err
    rows = attempts(project)
    assert len(rows) == 1 and rows[0]["status"] == "succeeded" and rows[0]["job_id"]
    log = (project.path / ".scriptflow" / "scriptflow.log").read_text()
    status = "squeue" if scheduler == "slurm" else "qstat"
    assert log.count(f"{status} failed (") == 3, log
    assert f"{status} answers again after 3 failed queries" in log, log


def test_status_command_failing_too_long_fails_the_attempt(project, scheduler: str) -> None:
    """A status command that never recovers fails the attempt after poll_failure_timeout (no hang),
    and the job is cancelled so that no stray job keeps running."""
    t = tag()
    env = fake_status_command(project, scheduler, fails=10**6)
    write_flow(project, scheduler, f"""
        def flow_lost():
            sf.Task([PY, "-c", "import time; time.sleep(120)"], outputs="never.txt", name="{t}-lost",
                    executor=EX).result()
    """, settings={"poll_failure_timeout": 2})
    proc = project.run("run", "lost", "--classic", check=False, env=env, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = attempts(project)
    assert len(rows) == 1 and rows[0]["status"] == "failed"
    assert "lost track of job" in rows[0]["error"] and "poll_failure_timeout" in rows[0]["error"], rows[0]["error"]
    wait_until(lambda: not live_jobs(scheduler, [rows[0]["job_id"]]), "the lost job to be cancelled", 30, 0.2)
