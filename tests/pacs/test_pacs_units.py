"""PACS pieces that need no Orthanc: the viewer link, the timeline entry, the client's failures,
the commands without ORTHANC_URL, and the pages with the integration off."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest

from tests.events.livestack import free_port
from webapp.imaging.actions import timeline_entry
from webapp.pacs.client import OrthancClient, OrthancNotFound, OrthancUnavailable


@pytest.fixture
def app_config(database_url):
    return {"WTF_CSRF_ENABLED": False}


def _study(**values):
    defaults = {"study_instance_uid": "1.2.3", "accession_number": "ACC-2026-00001", "orthanc_id": "ab-cd"}
    return SimpleNamespace(**(defaults | values))


@pytest.mark.sqlite_only
def test_viewer_link_fills_the_template(app):
    from webapp.pacs.display import viewer_url

    with app.app_context():
        app.config["ORTHANC_URL"] = "http://pacs:8042"
        assert viewer_url(_study()) == "http://pacs:8042/app/explorer.html#study?uuid=ab-cd"
        app.config["VIEWER_URL_TEMPLATE"] = "https://ohif/viewer?StudyInstanceUIDs={study_instance_uid}" \
                                            "&acc={accession_number}"
        assert viewer_url(_study(accession_number="A&B 1")) == "https://ohif/viewer?StudyInstanceUIDs=1.2.3&acc=A%26B%201"


def test_images_received_reads_in_the_timeline():
    event = SimpleNamespace(event_type="images_received", changes={"series": 3, "instances": 161}, note=None)
    assert timeline_entry(event).label == "Images received (3 series, 161 images)"
    one = SimpleNamespace(event_type="images_received", changes={"series": 1, "instances": 1}, note="Matched by hand")
    assert timeline_entry(one).label == "Images received (1 series, 1 image)"
    assert timeline_entry(one).lines[-1].text == "Matched by hand"


def test_the_client_turns_every_failure_into_one_error():
    closed = OrthancClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(OrthancUnavailable):
        closed.changes(0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    started = time.monotonic()
    with pytest.raises(OrthancUnavailable):
        OrthancClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5).changes(0)
    assert time.monotonic() - started < 5
    silent.close()
    with pytest.raises(OrthancNotFound):
        closed.preview("../../tools/reset")  # never sent: not an Orthanc id


@pytest.mark.sqlite_only
def test_commands_say_when_the_integration_is_off(app, runner):
    result = runner.invoke(args=["pacs", "sync"])
    assert result.exit_code != 0 and "ORTHANC_URL is not set" in result.output
    app.config["ORTHANC_URL"] = f"http://127.0.0.1:{free_port()}"
    result = runner.invoke(args=["pacs", "sync"])
    assert result.exit_code != 0 and "Orthanc is unavailable" in result.output
    result = runner.invoke(args=["pacs", "sync", "--from", "2026-13-01"])
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output


def test_without_a_pacs_orders_have_no_images(app, client, make_order, make_user):
    order = make_order("completed")
    doctor = make_user("doctor")
    token = client.post("/api/v1/auth/token", json={"username": doctor.username, "password": "password-123"}).json
    answer = client.get(f"/api/v1/imaging/orders/{order.id}",
                        headers={"Authorization": f"Bearer {token['access_token']}"}).json
    assert answer["images"] == {"available": False, "series": 0, "instances": 0, "viewer_url": None,
                                "received_at": None}
    client.post("/login", data={"username": doctor.username, "password": "password-123"})
    assert 'id="order-images"' not in client.get(f"/imaging/orders/{order.id}").text
    assert client.get("/pacs/studies/1/thumbnails/0").status_code == 404
