"""The audit trail is a hash chain nobody can rewrite unnoticed, and on PostgreSQL nobody can rewrite at all."""

import itertools
import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import DatabaseError
from django.test import RequestFactory

from accounts.audit import record_access, record_access_many, record_list, request_context
from accounts.chain import GENESIS, row_hash, walk_chain
from accounts.models import AccessEvent


def verify(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", *args, stdout=out)
    return out.getvalue()


def verify_fails(*args, returncode=1) -> str:
    with pytest.raises(CommandError) as refused:
        verify(*args)
    assert refused.value.returncode == returncode
    return str(refused.value)


def head_of(out: str) -> str:
    last = out.strip().splitlines()[-1]
    assert last.startswith("head ")
    return last.removeprefix("head ")


def tamper(sql, params):
    """Change the table behind the application's back: on PostgreSQL as a superuser who switches triggers
    off for the rest of the test's transaction (``session_replication_role``), the way an intruder with the
    database's keys could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.fixture
def trail(practitioner):
    return [
        record_access(action="view", actor=practitioner, patient_id=n, detail=f"row {n}") for n in range(5)
    ]


def test_each_row_is_chained_to_the_one_before(trail):
    assert [e.seq for e in trail] == [1, 2, 3, 4, 5]
    assert trail[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(trail):
        assert after.prev_hash == before.hash
    for stored in AccessEvent.objects.order_by("seq"):
        assert stored.hash == row_hash(stored)


def test_rows_written_together_are_chained_in_order_after_the_trail_and_verify(trail, practitioner):
    """The periodic jobs write their rows with ``record_access_many``: one lock, one insert, the same chain."""
    many = record_access_many(
        {"action": "update", "actor_label": "a job", "patient_id": n, "detail": f"bulk {n}"} for n in range(3)
    )
    record_access(action="view", actor=practitioner, patient_id=9, detail="after")

    assert [e.seq for e in many] == [6, 7, 8]
    assert many[0].prev_hash == trail[-1].hash
    stored = list(AccessEvent.objects.order_by("seq"))
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.hash
    assert all(row.hash == row_hash(row) for row in stored)
    assert "holds: 9 rows" in verify()
    assert record_access_many([]) == []


def test_verify_audit_says_an_untouched_trail_holds(trail):
    out = verify()
    assert "holds: 5 rows" in out
    assert head_of(out) == f"5:{trail[-1].hash}"


def test_an_empty_trail_has_the_genesis_head(db):
    assert head_of(verify()) == f"0:{GENESIS}"
    assert "holds: 0 rows" in verify("--expect-head", f"0:{GENESIS}")


def test_a_head_kept_elsewhere_still_holds_when_rows_were_only_added(trail, practitioner):
    kept = head_of(verify())
    record_access(action="view", actor=practitioner, patient_id=9)
    out = verify("--expect-head", kept)
    assert "still holds the head kept elsewhere (seq 5); 1 row written since" in out
    assert head_of(out) == f"6:{AccessEvent.objects.get(seq=6).hash}"
    assert "0 rows written since" in verify("--expect-head", head_of(out).upper())


def test_a_tail_cut_after_the_head_was_kept_fails_verify_audit(trail):
    kept = head_of(verify())
    tamper("DELETE FROM accounts_accessevent WHERE seq >= %s", [4])
    assert "holds: 3 rows" in verify()  # the chain alone cannot tell
    message = verify_fails("--expect-head", kept)
    assert "ends at seq 3, but the head kept elsewhere is seq 5: 2 rows at its end are gone" in message
    assert f"Current head 3:{trail[2].hash}" in message


def test_a_whole_trail_removed_fails_against_its_kept_head(trail):
    kept = head_of(verify())
    tamper("DELETE FROM accounts_accessevent", [])
    assert "ends at seq 0, but the head kept elsewhere is seq 5" in verify_fails("--expect-head", kept)


def test_a_chain_rebuilt_after_a_cut_fails_against_its_kept_head(trail, practitioner):
    """An intruder cuts the last two rows and writes new ones in their place: the chain holds again, the
    head's row has another hash."""
    kept = head_of(verify())
    tamper("DELETE FROM accounts_accessevent WHERE seq >= %s", [4])
    for n in range(3):
        record_access(action="view", actor=practitioner, patient_id=100 + n)
    assert "holds: 6 rows" in verify()
    message = verify_fails("--expect-head", kept)
    assert f"Row seq 5 has hash {AccessEvent.objects.get(seq=5).hash}, not the {trail[4].hash}" in message


@pytest.mark.parametrize("bad", ["5", "5:abc", "x:" + "0" * 64, "-1:" + "0" * 64, "5:" + "g" * 64, ""])
def test_a_malformed_expected_head_is_refused_with_usage(trail, bad):
    message = verify_fails(f"--expect-head={bad}", returncode=2)
    assert "SEQ:HASH" in message


def test_the_beat_task_logs_and_mails_the_head_and_nothing_about_patients(
    trail, settings, mailoutbox, caplog
):
    from accounts.tasks import audit_head

    settings.AUDIT_HEAD_MAIL_TO = ["privacy@clinic.example"]
    with caplog.at_level("INFO", logger="accounts.services"):
        assert audit_head.run() == f"5:{trail[-1].hash}"
    assert f"audit trail head 5:{trail[-1].hash}" in caplog.text
    (mail,) = mailoutbox
    assert mail.to == ["privacy@clinic.example"]
    assert f"verify_audit --expect-head 5:{trail[-1].hash}" in mail.body
    assert "row 0" not in mail.body
    assert settings.CELERY_BEAT_SCHEDULE["audit-head"]["task"] == "accounts.audit_head"


def test_the_beat_task_only_logs_when_no_address_is_set(trail, settings, mailoutbox):
    from accounts.tasks import audit_head

    settings.AUDIT_HEAD_MAIL_TO = []
    audit_head.run()
    assert mailoutbox == []


def test_a_row_reads_back_exactly_as_it_was_hashed(practitioner, db):
    request = RequestFactory().get(
        "/patients/?q=Renée%20Côté", REMOTE_ADDR="2001:DB8:0:0::1", HTTP_USER_AGENT="Navigateur ünï 🚀"
    )
    request.user = practitioner
    with request_context(request):
        record_list(patient_ids=[3, 1, 3, 2], query="q=Renée Côté & co", what="patient list")
        record_access(action="view", patient_id=1, obj=practitioner, detail="x" * 400)
    stored = AccessEvent.objects.order_by("seq").first()
    assert stored.patient_ids == [3, 1, 2]
    assert stored.action == "list"
    assert walk_chain(AccessEvent.objects.order_by("seq")).broken is None


def test_a_row_changed_in_the_database_is_named_and_verify_audit_exits_1(trail):
    tamper("UPDATE accounts_accessevent SET detail = %s WHERE id = %s", ["nothing to see", trail[2].pk])
    message = verify_fails()
    assert f"row seq 3 (id {trail[2].pk})" in message
    assert "changed after it was written" in message
    assert "2 rows before it hold" in message


def test_a_row_removed_from_the_middle_is_named_as_the_gap(trail):
    tamper("DELETE FROM accounts_accessevent WHERE id = %s", [trail[1].pk])
    message = verify_fails()
    assert "row seq 2: is missing" in message
    assert f"seq 3, id {trail[2].pk}" in message


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_link_to_the_next(trail):
    forged = AccessEvent.objects.get(pk=trail[1].pk)
    forged.detail = "forged"
    tamper(
        "UPDATE accounts_accessevent SET detail = %s, hash = %s WHERE id = %s",
        ["forged", row_hash(forged), forged.pk],
    )
    message = verify_fails()
    assert f"row seq 3 (id {trail[2].pk}): does not follow the row before it" in message


def test_the_append_only_trigger_refuses_raw_update_and_delete(postgres, trail):
    from django.db import transaction

    for sql in (
        "UPDATE accounts_accessevent SET detail = 'x' WHERE id = %s",
        "DELETE FROM accounts_accessevent WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [trail[0].pk])
    assert AccessEvent.objects.get(pk=trail[0].pk).detail == "row 0"


@pytest.mark.django_db(transaction=True)
def test_a_flush_still_empties_the_trail_on_postgresql(postgres):
    """Test teardown flushes with TRUNCATE, which row triggers do not see."""
    record_access(action="view", patient_id=1)
    call_command("flush", interactive=False, verbosity=0)
    assert not AccessEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain(postgres):
    from django.db import transaction

    start = threading.Barrier(4)
    errors = []

    def write(n):
        try:
            start.wait()
            for i in range(15):
                with transaction.atomic():
                    record_access(action="view", patient_id=n, detail=f"writer {n} row {i}")
        except Exception as error:  # surfaced below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    walk = walk_chain(AccessEvent.objects.order_by("seq"))
    assert walk.broken is None
    assert walk.rows == 60


@pytest.mark.django_db(transaction=True)
def test_the_migration_chains_the_rows_written_before_it(practitioner):
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    old = MigrationExecutor(connection).loader.project_state([("accounts", "0001_initial")]).apps
    OldEvent = old.get_model("accounts", "AccessEvent")
    for n in range(3):
        OldEvent.objects.create(action="view", patient_id=n, actor_id=practitioner.pk, detail=f"old {n}")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    record_access(action="view", patient_id=9, actor=practitioner)
    assert list(AccessEvent.objects.order_by("seq").values_list("seq", "detail")) == [
        (1, "old 0"),
        (2, "old 1"),
        (3, "old 2"),
        (4, ""),
    ]
    assert "holds: 4 rows" in verify()
