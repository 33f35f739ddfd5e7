"""The HTTP layer's own rules: error mapping, the test clock switch, settings from env."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import g

from tests.support.flows import T0, jobflow, step
from zen_flow.server.app import create_app
from zen_flow.server.settings import Settings, unknown_variables, variable_names
from zen_flow.tools.sim.metacontroller import FakeMetacontroller


def test_unexpected_exception_is_a_500_without_traceback_and_logged_with_the_flow(
    capfd: pytest.CaptureFixture[str],
) -> None:
    app = create_app(Settings())

    def explode() -> str:
        g.flow = {"namespace": "team-a", "name": "broken"}
        raise RuntimeError("a bug")

    app.add_url_rule("/explode", "explode", explode, methods=["POST"])
    answer = app.test_client().post("/explode")
    assert answer.status_code == 500
    body = answer.get_json()
    assert body == {"error": "internal error; see the hook server's log"}
    logged = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line]
    record = next(r for r in logged if "unexpected error" in r["message"])
    assert record["flow"] == {"namespace": "team-a", "name": "broken"}
    assert "RuntimeError" in record["exc_info"]


def test_test_clock_header_only_with_the_setting() -> None:
    request = json.dumps(FakeMetacontroller(jobflow("c", step("a")), T0).request()).encode()
    headers = {"X-Zen-Flow-Now": "2030-01-02T03:04:05Z"}
    on = (
        create_app(Settings(test_clock=True))
        .test_client()
        .post("/sync", data=request, headers=headers)
    )
    assert on.get_json()["status"]["startTime"] == "2030-01-02T03:04:05Z"
    off = create_app(Settings()).test_client().post("/sync", data=request, headers=headers)
    assert off.get_json()["status"]["startTime"] != "2030-01-02T03:04:05Z"
    bad = (
        create_app(Settings(test_clock=True))
        .test_client()
        .post("/sync", data=request, headers={"X-Zen-Flow-Now": "yesterday"})
    )
    assert bad.status_code == 400
    assert "X-Zen-Flow-Now" in bad.get_json()["error"]


def test_finalize_endpoint_finalizes_even_if_the_flag_is_missing() -> None:
    request = FakeMetacontroller(jobflow("f", step("a")), T0).request()
    request.pop("finalizing")
    answer = create_app(Settings()).test_client().post("/finalize", json=request)
    assert answer.get_json()["finalized"] is True


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "ZEN_FLOW_BIND": "0.0.0.0:9000",
            "ZEN_FLOW_WORKERS": "4",
            "ZEN_FLOW_WORKER_CONNECTIONS": "50",
            "ZEN_FLOW_KEEPALIVE": "3",
            "ZEN_FLOW_READ_TIMEOUT": "7",
            "ZEN_FLOW_TIMEOUT": "45",
            "ZEN_FLOW_GRACEFUL_TIMEOUT": "15",
            "ZEN_FLOW_MAX_BODY_BYTES": "1000",
            "ZEN_FLOW_LOG_LEVEL": "DEBUG",
            "ZEN_FLOW_TEST_CLOCK": "1",
        }
    )
    assert settings == Settings(
        bind="0.0.0.0:9000",
        workers=4,
        worker_connections=50,
        keepalive=3,
        read_timeout=7,
        timeout=45,
        graceful_timeout=15,
        max_body_bytes=1000,
        log_level="debug",
        test_clock=True,
    )
    defaults = Settings.from_env({})
    assert defaults.bind == "127.0.0.1:8080"
    assert defaults.timeout > 10, "above Metacontroller's 10 s hook timeout"
    assert defaults.max_body_bytes >= 32 * 1024 * 1024


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ZEN_FLOW_WORKERS", "many", "ZEN_FLOW_WORKERS='many' is not an integer"),
        ("ZEN_FLOW_TIMEOUT", "0", "ZEN_FLOW_TIMEOUT='0' must be at least 1"),
        (
            "ZEN_FLOW_LOG_LEVEL",
            "loud",
            "ZEN_FLOW_LOG_LEVEL='loud': use debug, info, warning, error or critical",
        ),
        (
            "ZEN_FLOW_BIND",
            "localhost",
            "ZEN_FLOW_BIND='localhost': use HOST:PORT with a port up to 65535, e.g. 127.0.0.1:8080",
        ),
        ("ZEN_FLOW_BIND", "0.0.0.0:70000", "ZEN_FLOW_BIND='0.0.0.0:70000': use HOST:PORT"),
        ("ZEN_FLOW_TEST_CLOCK", "maybe", "ZEN_FLOW_TEST_CLOCK='maybe': use 1 (on) or 0 (off)"),
    ],
)
def test_every_bad_setting_is_one_line_naming_the_variable(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env({variable: value})
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_good_forms_of_each_setting_are_accepted() -> None:
    for bind in ("[::]:8080", "0.0.0.0:80", ":8080", "unix:/tmp/zen-flow.sock"):
        assert Settings.from_env({"ZEN_FLOW_BIND": bind}).bind == bind
    assert Settings.from_env({"ZEN_FLOW_TEST_CLOCK": "0"}).test_clock is False
    assert Settings.from_env({"ZEN_FLOW_LOG_LEVEL": "WARNING"}).log_level == "warning"


def test_a_variable_that_is_no_setting_is_named_with_the_one_meant() -> None:
    env = {"ZEN_FLOW_WORKER": "4", "ZEN_FLOW_WORKERS": "2", "ZEN_FLOW_HOOKS_PORT": "tcp://x"}
    assert unknown_variables(env) == [
        "ZEN_FLOW_WORKER is not a setting and is ignored (did you mean ZEN_FLOW_WORKERS?)"
    ]


def test_every_setting_has_its_variable() -> None:
    assert variable_names() == [
        "ZEN_FLOW_BIND",
        "ZEN_FLOW_WORKERS",
        "ZEN_FLOW_WORKER_CONNECTIONS",
        "ZEN_FLOW_KEEPALIVE",
        "ZEN_FLOW_READ_TIMEOUT",
        "ZEN_FLOW_TIMEOUT",
        "ZEN_FLOW_GRACEFUL_TIMEOUT",
        "ZEN_FLOW_MAX_BODY_BYTES",
        "ZEN_FLOW_LOG_LEVEL",
        "ZEN_FLOW_TEST_CLOCK",
    ]


def log_records(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.strip()]


def test_answered_calls_are_logged_at_debug_and_phase_changes_at_info(
    capfd: pytest.CaptureFixture[str],
) -> None:
    request = FakeMetacontroller(jobflow("told", step("a")), T0).request()
    create_app(Settings()).test_client().post("/sync", json=request)
    records = log_records(capfd)
    assert [(r["level"], r["message"]) for r in records] == [
        ("INFO", "flow is now Running (Started)")
    ]
    assert records[0]["flow"] == {"namespace": "team-a", "name": "told"}
    create_app(Settings(log_level="debug")).test_client().post("/sync", json=request)
    messages = [(r["level"], r["message"]) for r in log_records(capfd)]
    assert ("DEBUG", "hook sync answered 200") in messages
    create_app(Settings()).test_client().post("/sync", data=b"nope")
    assert [(r["level"], r["message"]) for r in log_records(capfd)] == [
        ("WARNING", "hook sync answered 400")
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[]", "the request: must be an object (got a list)"),
        (b'{"children": {}}', "parent: required field is missing"),
        (b'{"parent": 5}', "parent: must be an object (got a whole number)"),
        (
            b'{"parent": {"metadata": {"name": "a", "generation": "1"}}}',
            "parent.metadata.generation: must be a whole number (got a string)",
        ),
        (
            b'{"parent": {"metadata": {}}, "finalizing": "yes"}',
            "finalizing: must be true or false (got a string)",
        ),
        (b"nope", "the body is not JSON: invalid character (byte 4)"),
        (b"", "empty body: expected a JSON hook request"),
    ],
)
def test_a_request_that_is_not_a_hook_request_is_a_400_saying_where_and_what(
    body: bytes, error: str
) -> None:
    answer = create_app(Settings(log_level="critical")).test_client().post("/sync", data=body)
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith(error)
