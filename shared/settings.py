"""Settings read from the environment (and `.env` when present).

Both the dashboard and the worker build their configuration from here, so a second machine only
needs the same environment to join a deployment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    redis_url: str = Field("redis://127.0.0.1:6379/0", alias="REDIS_URL")
    # When set, Celery uses this broker instead of REDIS_URL (e.g. the embedded
    # `sqla+sqlite:///…` transport that `make up` falls back to when no Redis is around).
    broker_url_override: str | None = Field(None, alias="CNNLENS_BROKER_URL")
    database_url: str | None = Field(None, alias="DATABASE_URL")
    data_dir: Path = Field(Path("./var"), alias="CNNLENS_DATA_DIR")

    host: str = Field("127.0.0.1", alias="CNNLENS_HOST")
    port: int = Field(8050, alias="CNNLENS_PORT")
    debug: bool = Field(False, alias="CNNLENS_DEBUG")
    # Optional login for lab deployments; both must be set to enable it.
    auth_user: str | None = Field(None, alias="CNNLENS_AUTH_USER")
    auth_password: str | None = Field(None, alias="CNNLENS_AUTH_PASSWORD")
    max_request_bytes: int = Field(8 * 1024 * 1024, alias="CNNLENS_MAX_REQUEST_BYTES")
    # Dataset imports (POST /api/datasets, shared/dataset_import.py): the largest upload, which
    # is also the most its images may take decoded (uint8), and the most images it may hold.
    dataset_max_bytes: int = Field(500 * 1024 * 1024, ge=1, alias="CNNLENS_DATASET_MAX_BYTES")
    dataset_max_images: int = Field(200_000, ge=10, alias="CNNLENS_DATASET_MAX_IMAGES")

    # Trainings at once per training worker. Two on two cores: a sweep of the notebook's seven
    # configs finished sooner than with one at a time (benchmarks/bench_sweep.py), and a run
    # alone still has both op threads to itself.
    worker_concurrency: int = Field(2, ge=1, alias="CNNLENS_WORKER_CONCURRENCY")
    # Trainings one pool process runs before it is replaced by a fresh one (Celery's
    # --max-tasks-per-child). Each new process pays a TensorFlow start (7-15 s on 2 cores); a
    # process that stays clears Keras' state between runs (worker/tasks.py) and grows by ~5-10 MiB
    # a run, so 16 bounds that; 1 = a fresh process for every run (benchmarks/bench_sweep.py).
    train_runs_per_process: int = Field(16, ge=1, le=1000, alias="CNNLENS_TRAIN_RUNS_PER_PROCESS")
    # One thread inside each op: at batch 32 a second intra-op thread made these small models no
    # faster and cost a quarter more CPU. Two ops side by side: a run alone on the machine is
    # ~15 % faster (the backward pass's independent ops run at once; bench_training.py, "training
    # threads"), and two trainings at once (the default concurrency) on 2 cores finish a sweep as
    # soon as with one op each (benchmarks/bench_sweep.py; it was 15-20 % later while every
    # epoch's end stalled on tf.data's autotuner, see worker/inputs.py).
    tf_intra_threads: int = Field(1, alias="CNNLENS_TF_INTRA_THREADS")
    tf_inter_threads: int = Field(2, alias="CNNLENS_TF_INTER_THREADS")
    # CPU priority (nice) of training workers: interactive requests first (worker/celery_app.py).
    train_nice: int = Field(10, ge=0, le=19, alias="CNNLENS_TRAIN_NICE")
    # Live training progress in the store (on by default). Off only to measure what it costs
    # (benchmarks/bench_training.py); without it a run still records every epoch.
    progress: bool = Field(True, alias="CNNLENS_PROGRESS")
    # Seconds a running run may go without a heartbeat before it counts as interrupted. A live
    # training renews it every half second (a background thread covers quiet stretches).
    heartbeat_timeout: float = Field(20.0, gt=0, alias="CNNLENS_HEARTBEAT_TIMEOUT")
    # Seconds between recovery sweeps (Celery beat in the extraction worker): runs whose worker
    # died are re-sent, and so are queued runs whose message the broker lost.
    recover_interval: float = Field(15.0, gt=0, alias="CNNLENS_RECOVER_INTERVAL")
    # Seconds a queued run's message may sit with a worker that has not started it before the
    # sweep sends another (its worker died between taking the message and claiming the run).
    requeue_after: float = Field(120.0, gt=0, alias="CNNLENS_REQUEUE_AFTER")
    max_attempts: int = Field(3, alias="CNNLENS_MAX_ATTEMPTS")
    # Deliveries that may start one extraction or analysis job before it is failed (its worker
    # process was killed each time, e.g. out of memory); asking for it again starts a new count.
    job_max_attempts: int = Field(3, ge=1, alias="CNNLENS_JOB_MAX_ATTEMPTS")
    # Hard limit for one training task, in seconds; the broker's visibility timeout sits above it.
    train_time_limit: int = Field(6 * 3600, alias="CNNLENS_TRAIN_TIME_LIMIT")
    param_budget: int = Field(5_000_000, alias="CNNLENS_PARAM_BUDGET")
    # Activation values per image summed over the layers, and that sum times the training batch
    # (shared/config.py): what extraction, probes, analysis and training hold in memory.
    activation_budget: int = Field(1_000_000, gt=0, alias="CNNLENS_ACTIVATION_BUDGET")
    batch_activation_budget: int = Field(100_000_000, gt=0, alias="CNNLENS_BATCH_ACTIVATION_BUDGET")
    # Runs waiting to train past which a submit is refused with 429 (Retry-After).
    max_queued_runs: int = Field(100, ge=1, alias="CNNLENS_MAX_QUEUED_RUNS")
    # Bytes of cached activations (activations/cache/) kept per run; least recently used go first.
    activation_cache_bytes: int = Field(
        64 * 1024 * 1024, ge=0, alias="CNNLENS_ACTIVATION_CACHE_BYTES"
    )
    # Seconds a finished extraction or analysis job is kept before it is pruned.
    job_retention: float = Field(24 * 3600.0, gt=0, alias="CNNLENS_JOB_RETENTION")
    # Host names (the Host header, without port) the dashboard answers; comma-separated. "*"
    # allows any (only behind a proxy that checks them itself).
    allowed_hosts_text: str = Field("localhost,127.0.0.1,::1", alias="CNNLENS_ALLOWED_HOSTS")

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        return tuple(h.strip().lower() for h in self.allowed_hosts_text.split(",") if h.strip())

    @property
    def login_enabled(self) -> bool:
        return bool(self.auth_user) and bool(self.auth_password)

    def auth_problem(self) -> str | None:
        """Why the login settings cannot be used (only one of the two is set), or None."""
        user, password = bool(self.auth_user), bool(self.auth_password)
        if user == password:
            return None
        given, missing = (
            ("CNNLENS_AUTH_USER", "CNNLENS_AUTH_PASSWORD")
            if user
            else ("CNNLENS_AUTH_PASSWORD", "CNNLENS_AUTH_USER")
        )
        return (
            f"{given} is set but {missing} is not: the login needs both, and without one the "
            f"dashboard would be open to anyone. Set {missing} too, or unset {given}."
        )

    @property
    def broker_url(self) -> str:
        return self.broker_url_override or self.redis_url

    @property
    def broker_is_redis(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://"))

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            # Accept the plain scheme most tools print and use psycopg 3 for it.
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            elif url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'cnnlens.sqlite3').resolve()}"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
