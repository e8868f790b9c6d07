"""Fixtures of the delivery queue tests: a frozen clock, a world with its
buyer, and the broker down or in memory instead of eager tasks."""

import socket

import pytest
import time_machine
from kombu.transport.memory import Transport as MemoryTransport

from enersolar import celery_app

from ..helpers import make_world
from .support import START


@pytest.fixture
def frozen():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(buyer):
    return make_world(buyer.url("zr7"))


def _forget_broker_connections():
    # What Celery does after a fork: the next publish builds its connection
    # pool from the current configuration.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """The Celery broker unreachable: a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options
    conf.broker_url = f"redis://127.0.0.1:{port}/0"
    conf.broker_transport_options = {}
    conf.task_always_eager = False
    _forget_broker_connections()
    yield
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved
    _forget_broker_connections()


@pytest.fixture
def broker_in_memory():
    """A real (in-process) broker instead of eager tasks: what is published."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager, conf.broker_transport_options
    conf.broker_url = "memory://"
    conf.broker_transport_options = {}
    conf.task_always_eager = False
    _forget_broker_connections()
    MemoryTransport.global_state.clear()
    yield
    conf.broker_url, conf.task_always_eager, conf.broker_transport_options = saved
    _forget_broker_connections()
