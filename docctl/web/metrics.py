"""``/metrics`` in Prometheus' text format through ``prometheus_client`` (issue 31): request
latency by route, release latency, and — read at each scrape from the instance, so every worker
tells the same — the outbox backlog, how far each search index lags ``main``, the time since the
last sync with ``GIT_REMOTE``, and whether this process is prepared.

With several gunicorn workers, ``docctl serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at the
instance's ``metrics/`` folder before the workers start, so a scrape that reaches any one worker
reports the requests and releases of all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import math
import os
import time

from flask import Blueprint, Response, g, request

from ..core.errors import DocctlError
from .context import instance

bp = Blueprint("metrics", __name__)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Metrics:
    """This process's counters, made once (prometheus_client refuses a name registered twice)."""

    made: _Metrics | None = None

    def __init__(self) -> None:
        from prometheus_client import Histogram

        self.requests = Histogram(
            "docctl_request_seconds", "Time to answer a request, by route", ["route", "method"], buckets=LATENCY_BUCKETS
        )
        self.releases = Histogram(
            "docctl_release_seconds",
            "Time from the last signature to the release on main",
            buckets=(0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
        )

    @classmethod
    def get(cls) -> _Metrics:
        if cls.made is None:
            cls.made = cls()
        return cls.made


class _InstanceCollector:
    """Values read from the instance at scrape time (the same whichever worker answers)."""

    def __init__(self, inst) -> None:
        self.inst = inst

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        inst = self.inst
        yield GaugeMetricFamily(
            "docctl_ready",
            "1 when this process is prepared and serves pages",
            value=float(inst.preparation.ready.is_set()),
        )
        try:
            backlog = inst.outbox.backlog()
        except DocctlError:
            backlog = None
        if backlog is not None:
            yield GaugeMetricFamily("docctl_outbox_pending", "Messages waiting to be sent", value=backlog["pending"])
            yield GaugeMetricFamily("docctl_outbox_failed", "Messages given up on", value=backlog["failed"])
        try:
            head_seq = inst.catalog.seq_of(inst.catalog.recorded_commit())
        except DocctlError:  # the register is still being prepared
            return
        for name, index in (("search_index", inst.search), ("all_revisions_index", inst.search_all)):
            indexed = index.indexed_commit()
            try:
                lag = head_seq - inst.catalog.seq_of(indexed) if indexed else head_seq
            except DocctlError:
                lag = math.nan
            yield GaugeMetricFamily(
                f"docctl_{name}_lag_commits", f"Commits on main not yet in the {name.replace('_', ' ')}", value=lag
            )
        if inst.replicator is not None:
            last = inst.replicator.last_sync
            since = (inst.clock() - last).total_seconds() if last else math.nan
            yield GaugeMetricFamily(
                "docctl_seconds_since_last_sync", "Seconds since the last sync with GIT_REMOTE", value=since
            )


def init_app(app) -> None:
    counters = _Metrics.get()
    inst = app.extensions["docctl"]
    inst.workflow.release_listeners.append(lambda _change, seconds: counters.releases.observe(seconds))

    @app.before_request
    def _started():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _answered(response):
        started = g.pop("metrics_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "(no route)"
            counters.requests.labels(route, request.method).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)


@bp.route("/metrics")
def metrics():
    """Prometheus' text format: this server's counters, then the instance's live values."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    live = CollectorRegistry(auto_describe=False)
    live.register(_InstanceCollector(instance()))
    return Response(generate_latest(counted) + generate_latest(live), content_type=CONTENT_TYPE_LATEST)
