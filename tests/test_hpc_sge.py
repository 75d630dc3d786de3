"""The ``sge`` executor against a real Son of Grid Engine 8.1.9 (tests/services/sge_up.sh).

No mocks: the real ``scriptflow`` command submits real jobs; the scheduler's own commands are
the witnesses. The scenarios live in ``hpc_helpers`` (shared with the other scheduler's tests);
each test skips without the scheduler, and fails instead where CI sets
SCRIPTFLOW_REQUIRE_SERVICES=slurm,sge.
"""
from __future__ import annotations

import pytest

import hpc_helpers as hpc

SCHEDULER = "sge"
pytestmark = pytest.mark.sge


@pytest.fixture(autouse=True)
def _scheduler_up() -> None:
    hpc.need_scheduler(SCHEDULER)


def test_fan_out_fan_in_of_20_jobs_with_job_ids_in_the_ledger(project):
    hpc.fan_out_fan_in(project, SCHEDULER)


def test_failing_job_exit_code_and_stderr(project):
    hpc.failing_job(project, SCHEDULER)


def test_no_submission_after_a_failure(project):
    hpc.stop_after_failure(project, SCHEDULER)


def test_refused_submission_fails_the_attempt_with_the_schedulers_message(project):
    hpc.submission_failure(project, SCHEDULER)


def test_resources_reach_the_scheduler(project):
    hpc.resources_reach_scheduler(project, SCHEDULER)


def test_quoting_torture_identical_to_local(project):
    hpc.quoting_torture(project, SCHEDULER)


def test_outputs_appearing_late_on_a_shared_filesystem(project):
    hpc.late_outputs(project, SCHEDULER)


def test_sigint_cancels_every_job(project):
    hpc.cancel_on_sigint(project, SCHEDULER)


def test_job_killed_outside_scriptflow_is_judged_by_accounting(project):
    hpc.killed_outside(project, SCHEDULER)


def test_kill_9_then_resume_reattaches_without_resubmitting(project):
    hpc.kill_then_resume(project, SCHEDULER)


def test_status_command_failures_are_tolerated(project):
    hpc.poll_failures_tolerated(project, SCHEDULER)


def test_status_command_failing_too_long_fails_the_attempt(project):
    hpc.poll_failing_too_long(project, SCHEDULER)
