"""The writer process's protocol (``hotline/dbwrite.py``): a web process's ``run_write`` travels over a
Unix socket to the writer, which runs what is waiting in one group commit and answers each caller
after the commit.

Here the writer's loop runs on a thread of the test process against the test database, so the
tests can stop and restart it; the process as ``hotline serve`` runs it (and a ``kill -9`` of it) is
tested in test_crash.py and test_processes.py.
"""

from __future__ import annotations

import os
import pickle
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from aiogram.types import Update
from django.db import DatabaseError, OperationalError, connection
from django.test import Client

from hotline import dbwrite
from hotline.cases.models import Answer, Case
from hotline.channels.telegram.ingest import _claim, process_update
from hotline.channels.telegram.models import ProcessedUpdate
from tests.conftest import Org
from tests.process_support import WAIT
from tests.test_portal_helpers import WebApplicant, receipt_on

pytestmark = pytest.mark.django_db(transaction=True)


class WriterThread:
    """A :class:`dbwrite.WriterServer` serving on a thread, started and stopped at will."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.server: dbwrite.WriterServer | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> WriterThread:
        self.server = dbwrite.WriterServer(self.address)
        ready = threading.Event()
        self.thread = threading.Thread(target=self.server.serve, kwargs={"ready": ready.set}, daemon=True)
        self.thread.start()
        assert ready.wait(WAIT), "the writer did not start"
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.stop()
            self.thread.join(WAIT)
            assert not self.thread.is_alive()


@pytest.fixture
def writer(tmp_path: Path, settings: object) -> Iterator[WriterThread]:
    address = str(tmp_path / "writer.sock")
    settings.HOTLINE_WRITER_SOCKET = address  # type: ignore[attr-defined]
    thread = WriterThread(address).start()
    yield thread
    thread.stop()


# Work sent to the writer is pickled by reference: module-level functions.


def claim(update_id: int) -> bool:
    return _claim(update_id)


def claim_then_fail(update_id: int) -> bool:
    _claim(update_id)
    raise ValueError(f"refused {update_id}")


# The writer runs on a thread of this process here, so its work and the test can meet on events.
slow_one_running = threading.Event()
others_sent = threading.Event()


def slow_claim(update_id: int) -> bool:
    """Holds the writer until every other caller has sent its work: they are all waiting at once."""
    slow_one_running.set()
    assert others_sent.wait(WAIT), "the other callers never sent their work"
    return _claim(update_id)


def whose_thread() -> str:
    return threading.current_thread().name


def database_fails() -> None:
    raise OperationalError("database is locked")


class AwkwardError(Exception):
    def __init__(self, code: int, detail: str) -> None:  # pickled, it cannot be built again from args
        super().__init__(f"{code}: {detail}")


def awkward_failure() -> None:
    raise AwkwardError(7, "refused")


def unpicklable_result() -> object:
    return threading.Lock()


def test_work_runs_on_the_writer_and_its_result_comes_back_after_the_commit(writer: WriterThread) -> None:
    assert dbwrite.run_write(claim, 101) is True
    assert dbwrite.run_write(claim, 101) is False  # the same update again: the row is committed
    assert ProcessedUpdate.objects.filter(update_id=101).count() == 1
    assert dbwrite.run_write(whose_thread) == writer.thread.name  # type: ignore[union-attr]
    assert stat.S_IMODE(os.stat(writer.address).st_mode) == 0o600


def test_an_error_reaches_its_caller_and_only_its_own_work_is_rolled_back(
    writer: WriterThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    results: dict[int, object] = {}
    slow_one_running.clear()
    others_sent.clear()
    sent: list[str] = []
    lock = threading.Lock()
    send = dbwrite._send

    def counted_send(sock: object, payload: bytes) -> None:
        send(sock, payload)  # type: ignore[arg-type]
        name = threading.current_thread().name
        if name.startswith("caller-") and name != "caller-1":
            with lock:
                sent.append(name)
                if len(sent) == 15:
                    others_sent.set()

    monkeypatch.setattr(dbwrite, "_send", counted_send)

    def call(i: int) -> None:
        work = slow_claim if i == 1 else claim_then_fail if i % 4 == 0 else claim
        try:
            results[i] = dbwrite.run_write(work, 200 + i)
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=call, args=(i,), name=f"caller-{i}") for i in range(16)]
    threads[1].start()
    assert slow_one_running.wait(WAIT)  # the slow one holds the writer: the others arrive together
    for t in threads[:1] + threads[2:]:
        t.start()
    for t in threads:
        t.join(WAIT)
    for i in range(16):
        if i % 4 == 0:
            assert isinstance(results[i], ValueError) and str(results[i]) == f"refused {200 + i}"
        else:
            assert results[i] is True
    stored = set(ProcessedUpdate.objects.values_list("update_id", flat=True))
    assert stored == {200 + i for i in range(16) if i % 4}
    assert writer.server is not None and writer.server.batches <= 3, "callers that wait together share a commit"


def test_a_database_error_in_the_writer_is_a_database_error_for_the_caller(writer: WriterThread) -> None:
    """The webhook answers 503 to DatabaseError (Telegram retries): it must survive the trip."""
    with pytest.raises(OperationalError, match="database is locked"):
        dbwrite.run_write(database_fails)
    assert dbwrite.run_write(claim, 350) is True


def test_work_that_cannot_travel_is_refused_before_anything_is_sent(writer: WriterThread) -> None:
    with pytest.raises(TypeError, match="module-level function"):
        dbwrite.run_write(lambda: 1)
    with pytest.raises(TypeError, match="could not be sent back"):
        dbwrite.run_write(unpicklable_result)
    with pytest.raises(RuntimeError, match="AwkwardError"):
        dbwrite.run_write(awkward_failure)  # an error that cannot travel arrives as a plain one
    assert dbwrite.run_write(claim, 300) is True  # the connection is still good


def test_a_writer_that_is_down_is_a_database_error_and_a_restarted_one_is_found_again(
    writer: WriterThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dbwrite, "CONNECT_WAIT", 0.3)
    assert dbwrite.run_write(claim, 400) is True  # this thread now holds a connection
    writer.stop()
    assert not Path(writer.address).exists()

    class Clock:  # the caller's clock moves only as it sleeps: how long it waits, whatever the load
        now = 0.0

        @classmethod
        def monotonic(cls) -> float:
            return cls.now

        @classmethod
        def sleep(cls, seconds: float) -> None:
            cls.now += seconds

    with mock.patch.object(dbwrite, "time", Clock), pytest.raises(DatabaseError, match="not answering"):
        dbwrite.run_write(claim, 401)
    assert 0.3 <= Clock.now < 0.4, "it tried for CONNECT_WAIT, then gave up"
    writer.start()
    assert dbwrite.run_write(claim, 402) is True  # a new connection to the new writer
    assert set(ProcessedUpdate.objects.values_list("update_id", flat=True)) == {400, 402}


def test_inside_a_transaction_the_work_runs_here(writer: WriterThread) -> None:
    from django.db import transaction

    with transaction.atomic():
        assert dbwrite.run_write(whose_thread) == threading.current_thread().name
        assert connection.in_atomic_block


def _message(update_id: int, **content: object) -> dict[str, object]:
    user = {"id": 8_100, "is_bot": False, "first_name": "A", "language_code": "uk"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": 8_100, "type": "private", "first_name": "A"},
            "from": user,
            **content,
        },
    }


UPDATE_KINDS = {
    "text": _message(1, text="hello"),
    "command": _message(2, text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
    "photo": _message(3, photo=[{"file_id": "p", "file_unique_id": "u", "width": 9, "height": 9, "file_size": 99}]),
    "voice": _message(4, voice={"file_id": "v", "file_unique_id": "u", "duration": 2}),
    "video_note": _message(5, video_note={"file_id": "n", "file_unique_id": "u", "length": 9, "duration": 2}),
    "document": _message(6, document={"file_id": "d", "file_unique_id": "u", "file_name": "a.pdf"}),
    "location": _message(7, location={"latitude": 50.45, "longitude": 30.52}),
    "contact": _message(8, contact={"phone_number": "+380000000000", "first_name": "A", "user_id": 8_100}),
    "sticker": _message(
        9,
        sticker={
            "file_id": "s",
            "file_unique_id": "u",
            "type": "regular",
            "width": 9,
            "height": 9,
            "is_animated": False,
            "is_video": False,
        },
    ),
    "button": {
        "update_id": 10,
        "callback_query": {
            "id": "10",
            "from": {"id": 8_100, "is_bot": False, "first_name": "A"},
            "chat_instance": "1",
            "data": "l|en",
            "message": {
                "message_id": 3,
                "date": 1_700_000_000,
                "chat": {"id": 8_100, "type": "private", "first_name": "A"},
                "text": "?",
            },
        },
    },
    "blocked": {
        "update_id": 11,
        "my_chat_member": {
            "chat": {"id": 8_100, "type": "private", "first_name": "A"},
            "from": {"id": 8_100, "is_bot": False, "first_name": "A"},
            "date": 1_700_000_000,
            "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "B"}},
            "new_chat_member": {
                "status": "kicked",
                "until_date": 0,
                "user": {"id": 1, "is_bot": True, "first_name": "B"},
            },
        },
    },
}


@pytest.mark.parametrize("kind", list(UPDATE_KINDS))
def test_every_kind_of_update_the_bot_handles_travels_to_the_writer_unchanged(kind: str) -> None:
    update = Update.model_validate(UPDATE_KINDS[kind])
    assert pickle.loads(pickle.dumps(update, protocol=pickle.HIGHEST_PROTOCOL)) == update  # noqa: S301


def test_telegram_updates_are_stored_through_the_writer(org_tx: Org, writer: WriterThread) -> None:
    for kind in ("command", "text", "photo", "location", "sticker", "button", "blocked"):
        update = Update.model_validate(UPDATE_KINDS[kind])
        assert process_update(update) == "stored", kind
        assert process_update(update) == "duplicate", kind
    assert ProcessedUpdate.objects.count() == 7
    assert writer.server is not None and writer.server.batches >= 14


def test_a_web_form_is_submitted_through_the_writer(org_tx: Org, writer: WriterThread) -> None:
    olena = WebApplicant(Client())
    done = olena.complete()
    receipt = receipt_on(done)
    assert done.status_code == 200 and receipt, "the page that ends the form shows the receipt"
    case = Case.objects.get()
    assert case.channel == "web" and Answer.objects.filter(case=case).count() >= 5
    assert writer.server is not None and writer.server.batches == 1, "the submission, and only it, writes"
