"""Dragging pipeline cards between columns in real Chromium (SortableJS, vendored): a drop is the Move…
form's post, so an allowed move moves and a refused one says why and puts the card back. The board fits a
1366 px screen and its columns fold. Screenshots go to var/screenshots/."""

import pytest
from playwright.sync_api import Page, expect

from journeys.models import Journey, Stage
from journeys.services.stages import journey_move, journey_start
from tests.browser.helpers import hold_deliveries, page_size, save_screenshot, sign_in
from tests.factories import CareTeamMemberFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1366, "height": 768}


@pytest.fixture
def board(transactional_db, monkeypatch):
    """Two journeys at each step of the path, led by Dr. Bob Moss."""
    hold_deliveries(monkeypatch)
    staff = UserFactory(username="charlie", display_name="Charlie Desk", role="staff")
    bob = UserFactory(username="bob", display_name="Dr. Bob Moss", role="practitioner")
    path = [Stage.INQUIRY, Stage.DISCOVERY, Stage.INTAKE, Stage.COMMITMENT, Stage.BLUEPRINT, Stage.CHECK_INS]
    journeys = {}
    for n, stage in enumerate(path * 2):
        patient = PatientFactory(first_name=f"Patient{n}", last_name=stage.label.split()[0])
        CareTeamMemberFactory(patient=patient, user=bob, role="lead")
        journey = journey_start(patient=patient, actor=staff)
        for step in path[1 : path.index(stage) + 1]:
            journey_move(journey=journey, to_stage=step, actor=staff)
        journeys.setdefault(stage, []).append(journey)
    return journeys


def card_of(page: Page, journey):
    return page.locator(f"#journey-{journey.pk}")


def drop(page: Page, journey, stage: str) -> None:
    card_of(page, journey).locator(".card-body").drag_to(page.locator(f'[data-stage-list="{stage}"]'))


def test_dragging_a_pipeline_card(page: Page, live_server, board):
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "charlie")
    page.goto(live_server.url + "/pipeline/")
    width, _ = page_size(page)
    assert width == DESKTOP["width"], "the board scrolls sideways at 1366 px"
    for stage in (Stage.INQUIRY, Stage.ADVOCATE):
        box = page.locator(f"#stage-{stage}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= DESKTOP["width"], stage

    # An allowed move: Inquiry → Discovery call.
    first = board[Stage.INQUIRY][0]
    name = first.patient.display_name
    drop(page, first, Stage.DISCOVERY)
    expect(page.locator("#pipeline-messages")).to_contain_text(f"{name} moved to Discovery call.")
    expect(page.locator("#stage-discovery").get_by_role("link", name=name)).to_be_visible()
    expect(page.locator("#stage-inquiry").get_by_role("link", name=name)).to_have_count(0)
    first.refresh_from_db()
    assert first.stage == Stage.DISCOVERY

    # A move the path does not allow: refused, with why, and the card is back in its column.
    second = board[Stage.INQUIRY][1]
    drop(page, second, Stage.CHECK_INS)
    expect(page.locator("#pipeline-messages")).to_contain_text(
        f"{second.patient.display_name} was not moved: A journey at Inquiry cannot move to Check-ins."
    )
    expect(page.locator("#stage-inquiry").locator(f"#journey-{second.pk}")).to_be_visible()
    expect(page.locator("#stage-check_ins").locator(f"#journey-{second.pk}")).to_have_count(0)
    second.refresh_from_db()
    assert second.stage == Stage.INQUIRY and second.stage_changes.count() == 1
    save_screenshot(page, "pipeline-drag-refused")
    page.locator(f"#journey-{second.pk}").get_by_role("button", name="Cancel").click()

    # Pausing needs a reason: the card goes back with its form open at Paused, and the form finishes it.
    third = board[Stage.INTAKE][0]
    # Paused lies under the columns: a taller window shows both ends of this drag at once.
    page.set_viewport_size({"width": DESKTOP["width"], "height": 1200})
    drop(page, third, Stage.PAUSED)
    card = page.locator("#stage-intake").locator(f"#journey-{third.pk}")
    expect(page.locator("#pipeline-messages")).to_contain_text("Choose why the patient is leaving the path.")
    form = card.get_by_role("form", name=f"Move {third.patient.display_name}")
    expect(form.get_by_label("Paused", exact=True)).to_be_checked()
    form.get_by_label("Why is the patient leaving the path?").select_option(label="Moved or travelling")
    form.get_by_label("What happened").fill("Travelling until spring.")
    form.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#pipeline-messages")).to_contain_text(
        f"{third.patient.display_name} moved to Paused."
    )
    expect(page.locator("#stage-paused").get_by_role("link", name=third.patient.display_name)).to_be_visible()
    assert Journey.objects.get(pk=third.pk).stage == Stage.PAUSED

    # A column folds away, and stays folded after a reload.
    page.set_viewport_size(DESKTOP)
    page.locator("#stage-advocate summary").click()
    folded = page.locator("#stage-advocate").bounding_box()
    assert folded and folded["width"] < 60, folded
    page.reload()
    expect(page.locator("#stage-advocate details")).not_to_have_attribute("open", "")
    save_screenshot(page, "pipeline-drag")
    assert page_size(page)[0] == DESKTOP["width"]
    # a refused move answers 422 on purpose (Chromium logs it); anything else is a fault, CSP refusals included
    assert [e for e in errors if "status of 422" not in e] == []
