"""The Celery broker that needs no server (``make run`` without ``REDIS_URL``): kombu's
filesystem transport, with each message written whole before a worker can take it.

kombu creates a message's file, then locks and writes it; its reader does not look at the lock
but moves the file away and reads it, so a worker that polls in between reads an empty message
and stops with "Unrecoverable error: JSONDecodeError" (celery/kombu#1551), taking ``make run``
down with it. Here the message is written under a name no reader takes, then renamed to its
real name, which is atomic on one filesystem.
"""

import contextlib
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

# The broker URL's scheme: ``marketing-filesystem://`` (settings.py, without REDIS_URL).
SCHEME = "marketing-filesystem"
# A file being written ends so; readers take only names ending ".<queue>.msg".
PARTIAL_SUFFIX = ".partial"


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict, **kwargs) -> None:
        # The name kombu gives a message: readers take them in this order.
        filename = os.path.join(self.data_folder_out, f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg")
        partial = filename + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, filename)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {filename!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def register() -> None:
    """Makes ``SCHEME`` a broker URL scheme kombu knows (run when the Celery app is made)."""
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
