"""Celery configuration shared by the worker app and the dashboard's producer.

The dashboard only *sends* tasks by name (see `shared.tasks`); it builds a Celery app from the same
settings without importing `worker`, and without connecting until it sends.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery

from shared import tasks
from shared.settings import Settings, get_settings


def celery_config(settings: Settings) -> dict[str, Any]:
    # The broker re-delivers an unacknowledged message after visibility_timeout: keep it above the
    # longest training (the hard time limit), or a long run would be handed to a second worker.
    visibility = settings.train_time_limit + 600
    return {
        "broker_url": settings.broker_url,
        "result_backend": None,  # durable state lives in the store, not in Celery results
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # Redis only: kombu's SQLAlchemy transport hands these to create_engine, which rejects them.
        "broker_transport_options": (
            {"visibility_timeout": visibility} if settings.broker_is_redis else {}
        ),
        "broker_connection_retry_on_startup": True,
        # A Redis restart must not stop a training: it keeps going and reports to the store
        # (Celery 6 would cancel long-running tasks on a lost broker connection by default).
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_timeout": 3,
        "task_default_queue": tasks.TRAINING_QUEUE,
        "task_routes": {
            tasks.TRAIN: {"queue": tasks.TRAINING_QUEUE},
            tasks.EXTRACT: {"queue": tasks.EXTRACTION_QUEUE},
            tasks.RECOVER: {"queue": tasks.EXTRACTION_QUEUE},
            tasks.ATTRIBUTE: {"queue": tasks.EXTRACTION_QUEUE},
            tasks.CKA: {"queue": tasks.ANALYSIS_QUEUE},
            tasks.STATS: {"queue": tasks.ANALYSIS_QUEUE},
            tasks.CKA_EPOCHS: {"queue": tasks.ANALYSIS_QUEUE},
            tasks.FILTER: {"queue": tasks.ANALYSIS_QUEUE},
            tasks.ABLATION: {"queue": tasks.ANALYSIS_QUEUE},
            tasks.IMPORT_DATASET: {"queue": tasks.ANALYSIS_QUEUE},
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
    }


@lru_cache(maxsize=1)
def producer() -> Celery:
    app = Celery("cnnlens-dashboard")
    app.conf.update(celery_config(get_settings()))
    return app


def send(name: str, *args: Any) -> None:
    """Publish one task by name; raises BrokerUnavailable when the broker cannot be reached."""
    try:
        producer().send_task(
            name,
            args=list(args),
            retry=True,
            retry_policy={
                "max_retries": 2,
                "interval_start": 0.1,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        )
    except Exception as exc:  # kombu raises several types (OperationalError, ConnectionError…)
        raise BrokerUnavailable(
            f"the task queue is not reachable ({exc.__class__.__name__})"
        ) from exc


class BrokerUnavailable(Exception):
    pass


def broker_reachable(settings: Settings | None = None) -> bool:
    settings = settings or get_settings()
    if settings.broker_is_redis:
        import redis

        try:
            return bool(
                redis.Redis.from_url(
                    settings.broker_url, socket_timeout=0.5, socket_connect_timeout=0.5
                ).ping()
            )
        except Exception:
            return False
    try:
        with producer().connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
        return True
    except Exception:
        return False
