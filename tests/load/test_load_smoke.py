"""A short run of the mixed-load benchmark: sign-in,
get-session, bridge and data API reads and writes from several users at once
against real servers, with no errors and no connection left behind.

Timing is not asserted here; speed lives in ``benchmarks/``.
"""

from __future__ import annotations

from benchmarks.load import CONNECTION_BOUND, run_load

KINDS = {
    "sign-in",
    "get-session",
    "bridge",
    "data read",
    "data insert",
    "data update",
    "data delete",
}


def test_mixed_load_has_no_errors_and_leaks_no_connections(
    empty_database_url: str,
) -> None:
    report = run_load(empty_database_url, duration=6.0, users=4)

    assert set(report.requests) == KINDS
    assert all(count > 0 for count in report.requests.values()), report.requests
    assert report.errors == 0, report.error_samples
    assert report.connections_peak <= CONNECTION_BOUND
    assert not any("transaction" in s for s in report.connections_after_load)
    assert report.connections_after_stop == 0
    assert report.leaked_connections == 0
