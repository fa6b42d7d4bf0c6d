"""Read by gunicorn from the working directory; the Dockerfile's flags set everything else."""

import os


def child_exit(server, worker) -> None:
    # prometheus_client multiprocess mode: a dead worker's live gauges must stop counting.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
