"""The embedded broker (no REDIS_URL): a worker never takes a message before it is written whole."""

from queue import Empty

import pytest
from kombu import Connection

from marketing import broker


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("broker")


@pytest.fixture(scope="module")
def connection(folder):
    # One for the module: kombu's filesystem channels keep the folders of the first connection.
    folders = {name: folder / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
    }
    with Connection(f"{broker.SCHEME}://", transport_options=options) as opened:
        yield opened


def test_it_is_the_broker_of_the_settings_without_redis():
    assert isinstance(Connection(f"{broker.SCHEME}://").transport, broker.Transport)


def test_it_delivers_a_message_whole_and_leaves_no_partial_file(connection, folder):
    queue = connection.SimpleQueue("whole")
    queue.put({"execution_id": 7, "caption": "Été"})

    assert queue.get(timeout=1).payload == {"execution_id": 7, "caption": "Été"}
    assert not list((folder / "queue").glob(f"*{broker.PARTIAL_SUFFIX}"))


def test_it_gives_a_worker_polling_mid_write_nothing_rather_than_an_empty_message(connection, monkeypatch):
    queue = connection.SimpleQueue("mid-write")
    channel = queue.channel
    seen = []
    encode = broker.str_to_bytes

    def encode_while_a_worker_polls(text):
        # The file is open and still empty: kombu's own transport would hand it to this reader.
        try:
            channel._get("mid-write")
        except Empty:
            seen.append("nothing yet")
        return encode(text)

    monkeypatch.setattr(broker, "str_to_bytes", encode_while_a_worker_polls)
    queue.put({"execution_id": 8})

    assert seen == ["nothing yet"]
    assert queue.get(timeout=1).payload == {"execution_id": 8}
