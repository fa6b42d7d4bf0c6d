"""Settings for the gunicorn server that ``bench.triggers_ingest`` starts: the project's own, plus a bare view.

Only that server reads this module (through DJANGO_SETTINGS_MODULE); the project never does.
"""

import os

from marketing.settings import *  # noqa: F403
from marketing.settings import CACHES, REDIS_URL

ROOT_URLCONF = "bench.triggers_urls"
# Thousands of events go to one URL: the limit is still checked on every request, never reached.
TRIGGER_EVENT_RATE = "1000000000/minute"

if REDIS_URL:
    # The production cache, under a prefix of the run's own so that the developer's keys stay apart.
    CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": os.environ.get("BENCH_CACHE_PREFIX", "bench")}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ["BENCH_CACHE_DIR"],
        }
    }
