"""Render once per view (webapp/web/live_cache.py): identical live screens share one render, each
viewer still passes its role check, has its read logged and gets its own CSRF token; a change
(its event's generation, or a newer event id) is never answered with the older render."""

from __future__ import annotations

import re

import pytest

from tests.access_log import last_id, reads
from webapp.extensions import db, writing
from webapp.web import live_cache

REGION = {"HX-Request": "true", "HX-Target": "worklist", "X-Live-Refresh": "1"}


@pytest.fixture
def app_config(events_redis_url, sse_channel):
    # The shared render is on by default; said here so that the tests hold whatever the default.
    return {"REDIS_URL": events_redis_url, "SSE_CHANNEL": sse_channel, "WTF_CSRF_ENABLED": True,
            "LIVE_RENDER_CACHE_SECONDS": 30}


@pytest.fixture(autouse=True)
def one_minute(monkeypatch):
    """Renders serve one minute (waiting times); the tests stay inside one, whatever the clock."""
    minute = [29_000_000]
    monkeypatch.setattr(live_cache, "_minute", lambda: minute[0])
    return minute


def signed_in(app, user):
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
    return client


def renders() -> int:
    return live_cache.renders["count"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def page_token(client) -> str:
    """The CSRF token of the viewer's page: what its htmx requests send, and what static/live.js
    puts in a shared region's forms."""
    page = client.get("/imaging/worklist").get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def test_identical_tablets_cost_one_render_and_each_keeps_its_own_token_and_log(app, make_user, make_order):
    order = make_order("scheduled")
    tablets = [signed_in(app, make_user("technician")) for _ in range(4)]
    tokens = [page_token(t) for t in tablets]
    assert len(set(tokens)) == 4, "every tablet's page carries its own session's token"
    before, logged = renders(), last_id(app)

    pages = [t.get("/imaging/worklist", headers=REGION) for t in tablets]

    assert [p.status_code for p in pages] == [200] * 4
    assert renders() - before == 1, "four identical tablets, one render"
    htmls = [p.get_data(as_text=True) for p in pages]
    assert all(f'id="start-{order.id}"' in h for h in htmls)
    assert len(set(htmls)) == 1, "every identical screen is sent the same bytes"
    assert all(p.headers["X-CSRF-Hole"] == live_cache.CSRF_HOLE for p in pages)
    assert csrf_of(htmls[0]) == live_cache.CSRF_HOLE and tokens[1] not in htmls[0], "no viewer's token is shared"
    # The page's token (put in by static/live.js) works: the second tablet starts the scan.
    started = tablets[1].post(f"/imaging/worklist/{order.id}/start",
                              data={"csrf_token": tokens[1], "version": order.version}, headers=REGION)
    assert started.status_code == 200 and "scan started" in started.get_data(as_text=True)
    # Every viewer's read is logged, naming the patient shown.
    rows = [r for r in reads(app, logged) if r.what == "worklist" and r.request_path.startswith("GET")]
    assert len(rows) == 4 and all(r.patients == {order.patient_id} for r in rows)
    assert len({r.user_id for r in rows}) == 4


def test_a_change_is_never_answered_with_the_older_render(app, make_user, make_order):
    order = make_order("scheduled")
    tablet = signed_in(app, make_user("technician"))
    first = tablet.get("/imaging/worklist", headers=REGION)
    assert f'id="start-{order.id}"' in first.get_data(as_text=True)

    started = tablet.post(f"/imaging/worklist/{order.id}/start",
                          data={"csrf_token": page_token(tablet), "version": order.version}, headers=REGION)
    assert started.status_code == 200
    before = renders()
    again = tablet.get("/imaging/worklist", headers=REGION).get_data(as_text=True)
    assert renders() - before == 1
    assert f'id="start-{order.id}"' not in again and f'id="complete-{order.id}"' in again


def test_an_event_committed_out_of_order_still_renders_again(app, make_user, make_order):
    """PostgreSQL: an event with a lower id can commit after a higher one, so the head id does not
    move. The publisher's generation does: the region is rendered again."""
    from webapp.events.publishing import publish_signals
    from webapp.imaging.models import ImagingOrder

    order = make_order("scheduled")
    tablet = signed_in(app, make_user("technician"))
    assert "Portable" not in tablet.get("/imaging/worklist", headers=REGION).get_data(as_text=True)
    with app.app_context(), writing():  # a change whose event id is not above the head
        db.session.get(ImagingOrder, order.id).special_instructions = "Portable, ICU bed 4"
        db.session.commit()
        same_head = tablet.get("/imaging/worklist", headers=REGION).get_data(as_text=True)
        assert publish_signals([{"id": str(order.id), "event_id": 1}]) == 1
    assert "Portable" not in same_head, "cached until an event says otherwise (this is the test's premise)"
    after = tablet.get("/imaging/worklist", headers=REGION).get_data(as_text=True)
    assert "Portable, ICU bed 4" in after


def test_if_none_match_answers_304_and_still_logs_the_read(app, make_user, make_order):
    order = make_order("ordered", priority="stat")
    doctor = signed_in(app, make_user("doctor"))
    headers = {"HX-Request": "true", "HX-Target": "dashboard", "X-Live-Refresh": "1"}
    first = doctor.get("/dashboard", headers=headers)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and "no-cache" in first.headers["Cache-Control"]
    assert "HX-Target" in first.headers["Vary"] and "HX-Request" in first.headers["Vary"]
    logged = last_id(app)

    same = doctor.get("/dashboard", headers=headers | {"If-None-Match": etag})
    assert same.status_code == 304 and same.get_data() == b""
    assert [r.patients for r in reads(app, logged)] == [{order.patient_id}], "a 304 is a read too"

    # Another doctor's ETag is not this one's (own session, own token), and a change moves it.
    other = signed_in(app, make_user("doctor")).get("/dashboard", headers=headers | {"If-None-Match": etag})
    assert other.status_code == 200
    make_order("ordered", priority="stat")
    changed = doctor.get("/dashboard", headers=headers | {"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_roles_get_their_own_render_and_their_own_checks(app, make_user, make_order):
    order = make_order("scheduled")
    technician = signed_in(app, make_user("technician")).get("/imaging/worklist", headers=REGION)
    doctor = signed_in(app, make_user("doctor")).get("/imaging/worklist", headers=REGION)
    assert f'id="start-{order.id}"' in technician.get_data(as_text=True)
    assert f'worklist-order-{order.id}' in doctor.get_data(as_text=True)
    assert f'id="start-{order.id}"' not in doctor.get_data(as_text=True), "a doctor's screen has no start button"

    # The display role is refused the dashboard even though a doctor's render is cached.
    display = signed_in(app, make_user("display"))
    headers = {"HX-Request": "true", "HX-Target": "dashboard"}
    assert signed_in(app, make_user("doctor")).get("/dashboard", headers=headers).status_code == 200
    assert display.get("/dashboard", headers=headers).status_code == 403
    wall = display.get("/dashboard/wall", headers={"HX-Request": "true", "HX-Target": "wall"})
    assert wall.status_code == 200 and "Garcia" not in wall.get_data(as_text=True)


def test_the_order_list_is_shared_per_filter(app, make_user, make_order):
    ct = make_order("ordered", modality="CT", body_part="HEAD", procedure_code="70450")
    xray = make_order("ordered")
    headers = {"HX-Request": "true", "HX-Target": "order-results"}
    doctors = [signed_in(app, make_user("doctor")) for _ in range(3)]
    before = renders()
    ct_lists = [d.get("/imaging/orders?modality=CT", headers=headers).get_data(as_text=True) for d in doctors]
    all_list = doctors[0].get("/imaging/orders", headers=headers).get_data(as_text=True)
    assert renders() - before == 2, "one render per filter"
    assert all(ct.accession_number in h and xray.accession_number not in h for h in ct_lists)
    assert xray.accession_number in all_list
    # A filter that is not understood answers 422 (not cached, never served as a 200).
    bad = doctors[1].get("/imaging/orders?date_from=yesterday", headers=headers)
    assert bad.status_code == 422 and "ETag" not in bad.headers


@pytest.mark.sqlite_only
def test_without_redis_every_request_renders(app, make_user, make_order):
    make_order("scheduled")
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    tablets = [signed_in(app, make_user("technician")) for _ in range(2)]
    before = renders()
    assert [t.get("/imaging/worklist", headers=REGION).status_code for t in tablets] == [200, 200]
    assert renders() - before == 2


def test_the_tablet_station_filter_through_the_shared_render(app, make_user, make_order, make_station):
    ct_room = make_station("CT_ROOM_1", "CT")
    xray = make_order("scheduled")
    tablet = signed_in(app, make_user("technician"))
    for _ in range(2):  # refused each time, nothing left holding the render
        refused = tablet.get("/imaging/worklist?station=NOPE", headers=REGION)
        assert refused.status_code == 400 and "no station" in refused.get_data(as_text=True)
    chosen = tablet.get(f"/imaging/worklist?station={ct_room.lower()}", headers=REGION)
    assert chosen.status_code == 200 and f"worklist_station={ct_room}" in chosen.headers["Set-Cookie"]
    assert f"worklist-order-{xray.id}" not in chosen.get_data(as_text=True), "an X-ray is not on the CT's list"
    remembered = tablet.get("/imaging/worklist", headers=REGION).get_data(as_text=True)
    assert f"worklist-order-{xray.id}" not in remembered
    everything = tablet.get("/imaging/worklist?station=", headers=REGION).get_data(as_text=True)
    assert f"worklist-order-{xray.id}" in everything


def test_a_render_serves_its_minute_only(app, make_user, make_order, one_minute):
    """The wall and the tablets show waiting times and "now": the next minute renders again."""
    make_order("scheduled")
    tablets = [signed_in(app, make_user("technician")) for _ in range(2)]
    before = renders()
    tablets[0].get("/imaging/worklist", headers=REGION)
    tablets[1].get("/imaging/worklist", headers=REGION)
    one_minute[0] += 1
    tablets[1].get("/imaging/worklist", headers=REGION)
    assert renders() - before == 2


def test_the_wall_follows_a_cancelled_stat_order(app, make_user, make_order):
    """The wall's shared render: a STAT order cancelled elsewhere leaves every wall at the next re-fetch."""
    from webapp.imaging import queries, services

    doctor = make_user("doctor")
    stat = make_order("ordered", priority="stat", doctor=doctor)
    walls = [signed_in(app, make_user("display")) for _ in range(2)]
    headers = {"HX-Request": "true", "HX-Target": "wall", "X-Live-Refresh": "1"}
    first = [w.get("/dashboard/wall", headers=headers) for w in walls]
    assert all(f"wall-stat-{stat.id}" in r.get_data(as_text=True) for r in first)
    with app.app_context(), writing():
        services.cancel_order(db.session.merge(doctor), queries.get_order(stat.id), reason="Duplicate")
        db.session.commit()
    for wall, before in zip(walls, first, strict=True):
        after = wall.get("/dashboard/wall", headers=headers | {"If-None-Match": before.headers["ETag"]})
        assert after.status_code == 200 and f"wall-stat-{stat.id}" not in after.get_data(as_text=True)


class _LockTimesOut:
    """The publisher's Redis client, but setting the render's lock times out (a loaded machine:
    its answers are bounded by SSE_PUBLISH_TIMEOUT_SECONDS); reads answer as usual."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def set(self, *args, **kwargs):
        import redis

        raise redis.TimeoutError("Timeout reading from socket")


def test_a_render_that_could_not_be_shared_is_not_answered_304_after_a_change(app, make_user, make_order,
                                                                               monkeypatch):
    """When the shared render's lock cannot be taken, the request renders for itself. Its ETag
    must still follow its HTML: it once did not (the same ETag for every such render of a user),
    so the wall's re-fetch after a STAT order was cancelled was answered 304 and the browser kept
    showing the cancelled order."""
    from webapp.imaging import queries, services

    real = live_cache._redis
    monkeypatch.setattr(live_cache, "_redis", lambda: _LockTimesOut(real()) if real() is not None else None)
    doctor = make_user("doctor")
    stat = make_order("ordered", priority="stat", doctor=doctor)
    wall = signed_in(app, make_user("display"))
    headers = {"HX-Request": "true", "HX-Target": "wall", "X-Live-Refresh": "1"}
    first = wall.get("/dashboard/wall", headers=headers)
    assert first.status_code == 200 and f"wall-stat-{stat.id}" in first.get_data(as_text=True)
    assert first.headers["X-Live-Render"] == "rendered"
    with app.app_context(), writing():
        services.cancel_order(db.session.merge(doctor), queries.get_order(stat.id), reason="Duplicate")
        db.session.commit()

    after = wall.get("/dashboard/wall", headers=headers | {"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200, "answered 304: the browser would keep the cancelled order"
    assert f"wall-stat-{stat.id}" not in after.get_data(as_text=True)
    assert after.headers["ETag"] != first.headers["ETag"]
    same = wall.get("/dashboard/wall", headers=headers | {"If-None-Match": after.headers["ETag"]})
    assert same.status_code == 304, "an unchanged region still answers 304"


def test_a_change_committed_as_the_request_began_is_not_hidden_under_the_newer_generation(
    app, make_user, make_order, one_minute, monkeypatch
):
    """SQLite takes a transaction's snapshot at its first read (the viewer's user, before the
    region's version is read). A change committed and published in between (a claim, say: no
    order event, so the head id stays) moved the generation the request then read; the render
    from the older snapshot must not be stored under it, or the change's own re-fetch meets it."""
    from webapp.events.publishing import publish_signals
    from webapp.imaging.models import ImagingOrder

    order = make_order("scheduled")
    tablets = [signed_in(app, make_user("technician")) for _ in range(2)]
    changed = []

    def minute_after_a_change() -> int:  # called in the region's answer, after the user was read
        if not changed:
            changed.append(True)
            with app.app_context(), writing():
                db.session.get(ImagingOrder, order.id).special_instructions = "Portable, ICU bed 4"
                db.session.commit()
                assert publish_signals([{"id": str(order.id), "event_id": 1}]) == 1
        return one_minute[0]

    monkeypatch.setattr(live_cache, "_minute", minute_after_a_change)
    assert tablets[0].get("/imaging/worklist", headers=REGION).status_code == 200
    assert changed, "the change was made while the first request was answered"
    again = tablets[1].get("/imaging/worklist", headers=REGION)  # the change's re-fetch
    assert "Portable, ICU bed 4" in again.get_data(as_text=True)


def test_a_browser_that_takes_gzip_gets_the_region_compressed_once_per_version(app, make_user, make_order):
    import gzip

    order = make_order("scheduled")
    tablets = [signed_in(app, make_user("technician")) for _ in range(2)]
    plain = tablets[0].get("/imaging/worklist", headers=REGION)
    packed = [t.get("/imaging/worklist", headers=REGION | {"Accept-Encoding": "gzip, deflate, br"}) for t in tablets]
    assert "Content-Encoding" not in plain.headers
    assert all(p.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in p.headers["Vary"] for p in packed)
    assert packed[0].get_data() == packed[1].get_data(), "compressed once, sent to both"
    assert len(packed[0].get_data()) < len(plain.get_data())
    assert gzip.decompress(packed[0].get_data()) == plain.get_data()
    assert f'id="start-{order.id}"' in plain.get_data(as_text=True)
    assert packed[0].headers["ETag"] == plain.headers["ETag"], "the same version of the region"


def test_another_worker_sends_the_stored_compressed_bytes_without_compressing_again(app, make_user, make_order,
                                                                                    monkeypatch):
    """The render is stored with its gzip-compressed bytes: a worker that did not render the
    version (here: this process with its recent entries forgotten) sends them as they are."""
    import gzip

    order = make_order("scheduled")
    tablets = [signed_in(app, make_user("technician")) for _ in range(2)]
    accept = REGION | {"Accept-Encoding": "gzip"}
    first = tablets[0].get("/imaging/worklist", headers=accept)
    live_cache._recent._entries.clear()  # another worker: nothing of this version in memory

    def no_compressing(*args, **kwargs):
        raise AssertionError("compressed again")

    monkeypatch.setattr(live_cache.zlib, "compressobj", no_compressing)
    second = tablets[1].get("/imaging/worklist", headers=accept)

    assert second.headers["X-Live-Render"] == "shared" and second.headers["Content-Encoding"] == "gzip"
    assert second.get_data() == first.get_data()
    assert f'id="start-{order.id}"' in gzip.decompress(second.get_data()).decode()


def test_a_stored_region_comes_back_whole():
    """What Redis holds round-trips: the HTML, what it is, its patients (a set made once), status,
    generation, digest, its stored patient set, and the compressed bytes when they were made."""
    import uuid

    from webapp.audit.access import PatientSet

    patients = [uuid.uuid4(), uuid.uuid4(), None]
    for compressed in (False, True):
        shown = live_cache.Shown("<p>é" + "x" * 3000 + "</p>", "worklist", patients, 200, generation=7,
                                 patient_set=5 if compressed else None)
        shown.tag()
        if compressed:
            shown.gzipped()
        back = live_cache.Shown.load(shown.dump())
        assert (back.html, back.what, back.status, back.generation, back.digest, back.patient_set) == (
            shown.html, "worklist", 200, 7, shown.digest, 5 if compressed else None)
        assert isinstance(back.patients, PatientSet) and back.patients == set(patients[:2])
        assert back.patients.text == ",".join(str(p) for p in sorted(patients[:2], key=lambda p: p.int))
        assert back._gzipped == (shown._gzipped if compressed else None)
        assert back.body() == shown.body()


def _access_rows(app, after: int):
    from sqlalchemy import func, select

    from webapp.audit.access import flush_batches
    from webapp.audit.models import PatientAccessLog, PatientAccessLogPatient

    flush_batches()  # the viewers' queued rows (webapp.audit.access), as an auditor reads them
    with app.app_context():
        own = (select(func.count()).where(PatientAccessLogPatient.access_id == PatientAccessLog.id)
               .correlate(PatientAccessLog).scalar_subquery())
        return db.session.execute(select(PatientAccessLog.patient_set_id, own)
                                  .where(PatientAccessLog.id > after).order_by(PatientAccessLog.id)).all()


def test_viewers_of_a_shared_region_name_its_patients_as_one_stored_set(app, make_user, make_order, make_patient,
                                                                       make_visit):
    """Issue 22: the region's patients are stored once; every viewer's access row names that set
    (no row per patient per viewer), "who saw this patient" still finds every viewer, and a
    version showing the same patients names the same set."""
    from webapp.audit.access_report import access_rows

    visit = make_visit(patient=make_patient())
    order = make_order("scheduled", visit=visit)
    tablets = [signed_in(app, make_user("technician")) for _ in range(3)]
    logged = last_id(app)
    assert [t.get("/imaging/worklist", headers=REGION).status_code for t in tablets] == [200] * 3
    rows = _access_rows(app, logged)
    assert len(rows) == 3 and len({set_id for set_id, _ in rows}) == 1 and rows[0][0] is not None
    assert all(own == 0 for _, own in rows), "no patient rows of their own: the set names them"
    assert all(r.patients == {order.patient_id} for r in reads(app, logged)), "the log still reads as before"
    with app.app_context():
        found = access_rows(order.patient_id, 10)
        assert len(found) == 3 and all(count == 1 for _, count in found), "each viewer's read, one patient shown"
        assert len({row.user_id for row, _ in found}) == 3

    # A new version (another order of the same patient booked): the same patients, the same set.
    make_order("scheduled", visit=visit)
    live_cache._recent._entries.clear()
    from webapp.events.publishing import publish_signals

    with app.app_context():
        publish_signals([{"id": "test", "event_id": 0}])
    again = last_id(app)
    assert tablets[0].get("/imaging/worklist", headers=REGION).status_code == 200
    assert _access_rows(app, again)[0][0] == rows[0][0]

    # Another patient shown: another set, and each set's viewers are found by their own patients.
    other = make_order("scheduled", visit=make_visit(patient=make_patient()))
    with app.app_context():
        publish_signals([{"id": "test", "event_id": 0}])
    third = last_id(app)
    assert tablets[1].get("/imaging/worklist", headers=REGION).status_code == 200
    (new_set, own), = _access_rows(app, third)
    assert new_set not in (None, rows[0][0]) and own == 0
    with app.app_context():
        assert [count for _, count in access_rows(other.patient_id, 10)] == [2]


def test_without_redis_each_viewer_names_the_patients_itself(app, make_user, make_order):
    make_order("scheduled")
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there: no shared render, no set
    logged = last_id(app)
    assert signed_in(app, make_user("technician")).get("/imaging/worklist", headers=REGION).status_code == 200
    assert _access_rows(app, logged) == [(None, 1)]


def test_a_version_stored_since_the_request_looked_is_not_rendered_again(app, make_user, make_order):
    """A re-fetch missed the region in memory and in Redis, and meanwhile another request (here,
    or in another worker, which then released the render's lock) stored this version: it is
    served that render, not a second one (24 tablets rendered twice in one event of six)."""
    make_order("scheduled")
    tablet = signed_in(app, make_user("technician"))
    assert tablet.get("/imaging/worklist", headers=REGION).status_code == 200  # stores this version
    with app.test_request_context():
        client = live_cache._redis()
        key = next(k for k, _ in reversed(live_cache._recent._entries))
        generation = next(g for k, g in reversed(live_cache._recent._entries))

        def render_again():
            raise AssertionError("rendered a version that was stored")

        in_memory = live_cache._shared_render(client, key, generation, render_again)
        live_cache._recent._entries.clear()  # another worker: only Redis has it, its lock released
        from_redis = live_cache._shared_render(client, key, generation, render_again)
        assert in_memory.html == from_redis.html and from_redis.generation == generation
        assert not client.exists(f"{key}:lock:{generation}"), "the lock taken to look again is released"


def test_a_render_stores_its_patients_without_holding_two_connections(app, database_url, events_redis_url,
                                                                      sse_channel, make_user, make_order):
    """The renderer's read transaction ends before the set is written on a connection of its own:
    holding one while waiting for a second, fifteen concurrent renders held a worker's whole pool
    (30 s waits, then 503s). With a pool of one connection the set is still stored."""
    from webapp import create_app
    from webapp.config import TestConfig

    order = make_order("scheduled")
    user = make_user("technician")
    tight = create_app(TestConfig(
        database_url, REDIS_URL=events_redis_url, SSE_CHANNEL=f"{sse_channel}-tight", LIVE_RENDER_CACHE_SECONDS=30,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 2}))
    try:
        tablet = signed_in(tight, user)
        logged = last_id(app)
        response = tablet.get("/imaging/worklist", headers=REGION)
        assert response.status_code == 200 and response.headers["X-Live-Render"] == "rendered"
        (patient_set, own), = _access_rows(app, logged)
        assert patient_set is not None and own == 0, "the set was written, not given up after the pool's timeout"
        assert reads(app, logged)[0].patients == {order.patient_id}
    finally:
        with tight.app_context():
            db.engine.dispose()
