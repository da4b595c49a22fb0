"""Prometheus metrics read from the state file: served on `/metrics`, written as a node_exporter textfile,
or printed by `minorch metrics`.

`collect` reads the store (a few aggregate queries; see bench/bench_metrics.py for their cost) and
returns plain `Family` records; `registry` wraps them for the official `prometheus-client` (an optional
extra, imported only here, only when metrics are asked for). `Publisher` runs beside the scheduler: the
HTTP endpoint (prometheus-client's own server thread, reading the store on each scrape) and/or a
thread that rewrites the textfile every `TEXTFILE_EVERY` seconds, atomically (a temporary file in the
same folder, renamed over the old one). Neither touches the scheduler's connection or loop: each has
its own read connection, and SQLite's WAL lets it read while the scheduler writes.

Counts are of what the state file holds (`minorch db prune` lowers them), so they are gauges, not
counters; the histograms cover every finished try (durations) and every scheduled run's first try
(lateness) still stored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigError
from .store import Store

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.core import CollectorRegistry

log = logging.getLogger("minorch.metrics")

TEXTFILE_EVERY = 60.0  # seconds between rewrites of the textfile
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
LATENESS_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0)
INSTALL_HINT = 'install the metrics extra: pip install "minorch[metrics]" (it adds prometheus-client)'


@dataclass(frozen=True)
class Family:
    """One metric: `samples` are (label values, value) for a gauge; for a histogram (label values,
    cumulative bucket counts in `buckets` order, sum)."""

    name: str
    kind: str  # "gauge" or "histogram"
    help: str
    labels: tuple[str, ...] = ()
    samples: list = field(default_factory=list)
    buckets: tuple[float, ...] = ()


def collect(store: Store, *, up: bool, ready: bool | None, now: float) -> list[Family]:
    """Every metric, from the state file as it is now. `up`: a scheduler holds the state folder's lock;
    `ready`: it has finished starting (None: not known to this process, left out)."""
    runs = Family("minorch_runs", "gauge", "Runs in the state file, by DAG and state.", ("dag_id", "state"))
    runs.samples.extend(((dag, state), n) for dag, state, n in store.run_state_counts())
    tries = Family(
        "minorch_tries",
        "gauge",
        "Tries in the state file, by DAG and outcome (running: not ended yet).",
        ("dag_id", "outcome"),
    )
    outcomes, durations = store.try_summary(DURATION_BUCKETS)
    tries.samples.extend(((dag, outcome), n) for dag, outcome, n in outcomes)
    states = store.active_task_state_totals()
    families = [
        runs,
        tries,
        Family(
            "minorch_tries_queued",
            "gauge",
            "Task instances ready to run and waiting for a slot (scheduled or queued).",
            samples=[((), states.get("scheduled", 0) + states.get("queued", 0))],
        ),
        Family(
            "minorch_tries_running",
            "gauge",
            "Tries whose process runs now (started, not ended).",
            samples=[((), store.open_attempt_count())],
        ),
        _histogram(
            "minorch_try_duration_seconds",
            "How long finished tries ran, by DAG.",
            DURATION_BUCKETS,
            durations,
        ),
        _histogram(
            "minorch_scheduling_lateness_seconds",
            "From a scheduled run's fire time to the start of its first try, by DAG.",
            LATENESS_BUCKETS,
            store.lateness_histogram(LATENESS_BUCKETS),
        ),
        Family(
            "minorch_sla_misses",
            "gauge",
            "SLA misses recorded, by DAG.",
            ("dag_id",),
            [((dag,), n) for dag, n in sorted(store.sla_miss_counts().items())],
        ),
        Family(
            "minorch_load_errors",
            "gauge",
            "DAG files that failed to load at the scheduler's last look.",
            samples=[((), len(store.load_errors()))],
        ),
        Family(
            "minorch_last_success_timestamp_seconds",
            "gauge",
            "When the DAG's newest successful run ended (seconds since the epoch).",
            ("dag_id",),
            [((dag,), end) for dag, end in sorted(store.last_successes().items())],
        ),
        Family("minorch_scheduler_up", "gauge", "1 while a scheduler holds the state folder.", samples=[((), int(up))]),
    ]
    if ready is not None:
        families.append(
            Family(
                "minorch_scheduler_ready",
                "gauge",
                "1 once the scheduler finished starting (recovery done, DAGs loaded).",
                samples=[((), int(ready))],
            )
        )
    families.append(
        Family(
            "minorch_metrics_collected_timestamp_seconds",
            "gauge",
            "When these numbers were read from the state file.",
            samples=[((), now)],
        )
    )
    return families


def _histogram(name: str, help: str, bounds: tuple[float, ...], rows) -> Family:
    family = Family(name, "histogram", help, ("dag_id",), buckets=bounds)
    family.samples.extend(((dag,), counts, total) for dag, counts, total in rows)
    return family


def registry(read) -> CollectorRegistry:
    """A prometheus-client registry whose one collector calls `read()` for the families on each collect."""
    try:
        from prometheus_client.core import CollectorRegistry, GaugeMetricFamily, HistogramMetricFamily
    except ImportError:
        raise ConfigError("metrics need prometheus-client, which is not installed", hint=INSTALL_HINT) from None

    class StateFileCollector:
        def collect(self):
            for family in read():
                if family.kind == "histogram":
                    metric = HistogramMetricFamily(family.name, family.help, labels=family.labels)
                    for labels, counts, total in family.samples:
                        buckets = [(repr(b), c) for b, c in zip(family.buckets, counts[:-1], strict=True)]
                        metric.add_metric(labels, buckets + [("+Inf", counts[-1])], total)
                else:
                    metric = GaugeMetricFamily(family.name, family.help, labels=family.labels)
                    for labels, value in family.samples:
                        metric.add_metric(labels, value)
                yield metric

    made = CollectorRegistry(auto_describe=False)
    made.register(StateFileCollector())
    return made


def exposition(made) -> bytes:
    """The Prometheus text format of a registry made by `registry`."""
    from prometheus_client import generate_latest

    return generate_latest(made)


def write_textfile(path: Path, data: bytes) -> None:
    """Replace `path` with `data` in one step: readers see the old file or the new one, never a part.
    The temporary file sits in the same folder (a rename is atomic only within one file system) and
    its name does not end in .prom, so node_exporter never reads it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


class Publisher:
    """The metrics of one state file while a scheduler runs: `[minorch] metrics = "textfile:PATH"` and/or
    `metrics_port`. `start` raises ConfigError when prometheus-client is missing or the port is taken."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ready = False  # set by the daemon once it has started
        self.up = True  # the publisher runs inside the scheduler's process
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._server: WSGIServer | None = None
        self._registry: CollectorRegistry | None = None

    def read(self) -> list[Family]:
        """Called from the HTTP server's threads and the textfile thread: one connection, one at a time."""
        with self._lock:
            if self._store is None:
                self._store = Store(self.settings.db_path)
            return collect(self._store, up=self.up, ready=self.ready, now=time.time())

    def start(self) -> None:
        settings = self.settings
        if settings.metrics_textfile is None and settings.metrics_port is None:
            return
        self._registry = registry(self.read)
        if settings.metrics_port is not None:
            from prometheus_client import start_http_server

            try:
                self._server, _thread = start_http_server(
                    settings.metrics_port, addr=settings.metrics_address, registry=self._registry
                )
            except OSError as err:
                raise ConfigError(
                    f"cannot serve metrics on {settings.metrics_address}:{settings.metrics_port}: {err.strerror}",
                    hint="pick a free metrics_port in minorch.toml",
                ) from None
            log.info("metrics on http://%s:%d/metrics", settings.metrics_address, self.port)
        if settings.metrics_textfile is not None:
            self.write()  # a wrong folder shows at once, as a ConfigError
            self._thread = threading.Thread(target=self._textfile_loop, name="metrics-textfile", daemon=True)
            self._thread.start()

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server is not None else None

    def write(self) -> None:
        path, made = self.settings.metrics_textfile, self._registry
        if path is None or made is None:
            raise RuntimeError("the textfile is written only after start() made the registry")
        try:
            write_textfile(path, exposition(made))
        except OSError as err:
            raise ConfigError(f"cannot write the metrics textfile {path}: {err.strerror}") from None

    def _textfile_loop(self) -> None:
        while not self._stop.wait(TEXTFILE_EVERY):
            try:
                self.write()
            except Exception:  # noqa: BLE001 - the scheduler goes on; the next minute tries again
                log.exception("writing the metrics textfile failed")

    def stop(self) -> None:
        """Last textfile with the scheduler down, then the threads end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.up = self.ready = False
            try:
                self.write()
            except ConfigError:
                log.exception("writing the last metrics textfile failed")
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None
