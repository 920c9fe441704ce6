"""How gunicorn serves kjflow:

    gunicorn -c python:workflow.gunicorn_conf 'workflow:create_app()'

The command line and ``GUNICORN_CMD_ARGS`` override any of these (``-b``, ``-w``).
"""

import os

bind = os.environ.get("KJFLOW_BIND", "0.0.0.0:8000")
# Two per core and one: a request waits on PostgreSQL about as long as it computes.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1) + 1))
# Threads share a worker's memory and its database pool: pages that wait on the database
# overlap.
worker_class = "gthread"
threads = int(os.environ.get("KJFLOW_THREADS", "4"))
# An idle connection is kept this many seconds for the person's next click. At gunicorn's
# default of 2 s a browser (or locust, bench/pages.py) that sends its next request as the
# server closes the connection gets "connection reset".
keepalive = 30
# A request is killed after this long (the long work is the worker's, with progress).
timeout = 120
graceful_timeout = 30
