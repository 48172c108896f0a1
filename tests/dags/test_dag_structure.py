"""The DAG file imports cleanly and is wired as documented (no Airflow run needed)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    elapsed = time.perf_counter() - started
    # Reported, not asserted: parse time is a measurement, the machine is noisy.
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "dag-parse-time.json").write_text(json.dumps({"dagbag_fill_s": round(elapsed, 3)}))
    print(f"\nDagBag fill time: {elapsed:.2f} s")
    return bag


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["ebay_listings_sync"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "ebay_listings_sync" in dagbag.dags


def test_schedule_and_run_settings(dag):
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert {"ebay", "warehouse", "trends"} <= set(dag.tags)
    assert "Rerun one page" in dag.doc_md
    assert dag.timetable.expression == "0 6 * * *"
    assert str(dag.timetable.timezone) in ("UTC", "Timezone('UTC')")


def test_flow(dag):
    order = {t.task_id: {d.task_id for d in t.downstream_list} for t in dag.tasks}
    assert order["ensure_schema"] == {"select_accounts"}
    assert order["select_accounts"] == {"plan_pages"}
    assert {"sync_page", "finalise_accounts", "check_pages"} <= order["plan_pages"]
    assert order["sync_page"] == {"finalise_accounts"}
    assert "compute_trends" in order["finalise_accounts"]
    assert order["compute_trends"] == {"check_pages"}
    assert order["check_pages"] == set()            # the only leaf decides the run state
    for tid in ("finalise_accounts", "compute_trends", "check_pages"):
        assert dag.get_task(tid).trigger_rule == "all_done"


def test_mapped_page_task(dag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    task = dag.get_task("sync_page")
    assert isinstance(task, MappedOperator)
    assert task.pool == "ebay_trading"
    assert task.retries == 3
    assert task.retry_exponential_backoff == 2.0
    assert task.max_active_tis_per_dagrun == 4
    assert task.execution_timeout is not None
    assert task.map_index_template == "{{ page_label }}"


def test_retry_policy_fails_fast_on_auth_and_quota(dag):
    from airflow.sdk import RetryAction

    from include.ebay_trends import errors

    policy = dag.get_task("sync_page").retry_policy
    decide = lambda exc: policy.evaluate(exc, try_number=1, max_tries=4).action  # noqa: E731
    assert decide(errors.AuthRevoked("re-authorise")) == RetryAction.FAIL
    assert decide(errors.CallLimitReached("518")) == RetryAction.FAIL
    assert decide(errors.CallBudgetExhausted("budget")) == RetryAction.FAIL
    assert decide(errors.TransientError("503")) == RetryAction.RETRY
    assert decide(errors.MalformedResponse("truncated")) == RetryAction.RETRY
    import sqlalchemy.exc

    assert decide(sqlalchemy.exc.OperationalError("x", {}, Exception("server closed"))) == RetryAction.RETRY
    assert decide(KeyError("bug")) == RetryAction.DEFAULT


def test_params_for_the_trigger_form(dag):
    params = dag.params
    assert params["accounts"] == []
    assert params["snapshot_date"] is None
    assert params["item_details"] == "new"
    assert params["dry_run"] is False
    assert params["page_size"] == 200
    assert params["full_resync"] is False
    assert params["bulk_details"] is True
    assert params.get_param("bulk_details").schema["type"] == "boolean"
    schema = params.get_param("page_size").schema
    assert schema["minimum"] == 1 and schema["maximum"] == 200
    assert params.get_param("item_details").schema["enum"] == ["new", "all", "none"]


def test_invalid_param_rejected(dag):
    from airflow.sdk.definitions.param import ParamValidationError

    p = dag.params.get_param("page_size")
    with pytest.raises(ParamValidationError):
        p.resolve(500)
