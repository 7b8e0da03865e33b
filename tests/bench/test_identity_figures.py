"""The identity figures measure what they say: prepared members sign in over HTTP to a full
session, that session reads `/api/v1/me`, and the hash rate counts real verifications."""

from __future__ import annotations

import json

from bench.figures._members import (
    PREPARED_APP,
    SESSION_COOKIE,
    prepared_data,
    sign_in,
    sign_in_browser,
    signin_request,
)
from bench.figures.signin_vs_hash_ratio import hash_rate
from bench.http1 import Request, fetch
from bench.registry import all_benchmarks
from bench.server import running_server


def test_prepared_members_sign_in_to_a_full_session_that_reads_their_profile() -> None:
    with (
        prepared_data(2) as data,
        running_server(PREPARED_APP, env=data.server_env()) as server,
    ):
        first, second = data.members
        token = sign_in(server, first)
        me = fetch(
            server.host,
            server.port,
            Request("GET", "/api/v1/me").with_cookies({SESSION_COOKIE: token}),
        )
        browser = sign_in_browser(server, second)
        again = sign_in_browser(server, second, browser.returning_cookies)
        wrong = fetch(
            server.host,
            server.port,
            signin_request(type(second)(second.username, first.password)),
        )

    assert me.status == 200
    assert json.loads(me.body)["username"] == first.username
    assert SESSION_COOKIE not in browser.returning_cookies
    assert again.session_token != browser.session_token
    assert wrong.status == 401


def test_the_data_directory_is_removed_afterwards() -> None:
    with prepared_data(1) as data:
        assert (data.data_dir / "amanat.db").exists()
    assert not data.data_dir.exists()


def test_the_hash_rate_counts_real_verifications() -> None:
    window = hash_rate(0.2, None, max_other_share=float("inf"))
    assert window.verifies >= 1
    assert window.per_second > 0


def test_the_identity_figures_are_registered_with_their_goals() -> None:
    benchmarks = all_benchmarks()
    assert benchmarks["signin_vs_hash_ratio"].goal == "≥ 0.9"
    assert benchmarks["me_vs_noop_ratio"].goal == "≥ 0.5"
    assert benchmarks["signin_p99_ms"].method
