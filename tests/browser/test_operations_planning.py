"""Planning field work in the console: start a season plan from the overview, add an
operation on the plan's board and a task on the operation's. A refused addition shows the
board again with the form as typed and what to change next to it."""

from __future__ import annotations

import re
import uuid

import httpx
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import axe_violations


def _card(page: Page, status: str, title: str) -> Locator:
    return page.locator(f"[data-status={status}] li.card", has_text=title)


def test_a_breeder_plans_a_season_from_the_overview_down_to_a_task(page: Page) -> None:
    tag = uuid.uuid4().hex[:6]
    page.goto("/app/operations")
    page.get_by_label("Title").fill(f"Rabi plan {tag}")
    page.get_by_role("button", name="Start the plan").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Rabi plan {tag}")
    page.goto("/app/operations")
    expect(page.get_by_role("link", name=f"Rabi plan {tag}")).to_be_visible()
    page.get_by_role("link", name=f"Rabi plan {tag}").click()

    # An estimate past the bound: refused, the form as typed, the field named.
    form = page.get_by_role("form", name="Add an operation to this board")
    form.get_by_label("Title").fill(f"Sow block 7 {tag}")
    form.get_by_label("Kind of work").select_option("planting")
    form.get_by_label("Priority").select_option("high")
    form.get_by_label("Estimate, hours (optional)").fill("2000000")
    form.get_by_role("button", name="Add operation").click()
    expect(page.get_by_role("alert")).to_contain_text("estimate_hours")
    form = page.get_by_role("form", name="Add an operation to this board")
    expect(form.get_by_label("Title")).to_have_value(f"Sow block 7 {tag}")
    expect(form.get_by_label("Kind of work")).to_have_value("planting")
    expect(form.get_by_label("Priority")).to_have_value("high")
    assert axe_violations(page) == []

    form.get_by_label("Estimate, hours (optional)").fill("12")
    form.get_by_role("button", name="Add operation").click()
    operation = _card(page, "todo", f"Sow block 7 {tag}")
    expect(operation).to_contain_text("high")
    expect(page.get_by_role("alert")).to_have_count(0)

    page.get_by_role("link", name=f"Sow block 7 {tag}").click()
    form = page.get_by_role("form", name="Add a task to this board")
    expect(form.get_by_label("Kind of work")).to_have_count(0)  # a task does its operation's
    form.get_by_label("Title").fill(f"Seed drill calibration {tag}")
    form.get_by_label("Due (optional)").fill("2027-01-15")
    form.get_by_role("button", name="Add task").click()
    expect(_card(page, "todo", f"Seed drill calibration {tag}")).to_contain_text("due 2027-01-15")
    assert axe_violations(page) == []
    page.get_by_role("link", name=f"Seed drill calibration {tag}").click()
    expect(page.locator("dl.facts")).to_contain_text("planting")


def test_a_read_only_member_is_offered_no_planning_form(viewer_context: BrowserContext) -> None:
    page = viewer_context.new_page()
    page.goto("/app/operations")
    expect(page.get_by_role("button", name="Start the plan")).to_have_count(0)
    page.close()


def test_a_refused_move_links_back_to_the_board_to_read_it_afresh(
    page: Page, console_stack: DevStack
) -> None:
    headers = {"Authorization": f"Bearer {console_stack.login()}"}
    with httpx.Client(base_url=console_stack.gateway_url, headers=headers, timeout=30) as api:
        plan = api.post("/api/v1/work-items", json={"kind": "plan", "title": "Stale plan"})
        assert plan.status_code == 201, plan.text
        board = plan.json()["data"]["id"]
        op = api.post(
            "/api/v1/work-items",
            json={"kind": "operation", "title": "Irrigate", "parent_id": board,
                  "operation_type": "irrigation"},
        )  # fmt: skip
        assert op.status_code == 201, op.text
        page.goto(f"/app/operations/board/{board}")
        # Someone else moves the card after this board was drawn.
        changed = api.patch(
            f"/api/v1/work-items/{op.json()['data']['id']}", json={"status": "in_progress"}
        )
        assert changed.status_code == 200, changed.text
    page.get_by_label("Move Irrigate to").select_option("blocked")
    page.locator("li.card", has_text="Irrigate").get_by_role("button", name="Move").click()
    page.get_by_role("link", name="Back to the page you came from").click()
    expect(page).to_have_url(re.compile(rf".*/app/operations/board/{board}$"))
    expect(_card(page, "in_progress", "Irrigate")).to_have_count(1)


def test_a_move_the_lifecycle_refuses_says_which_moves_it_allows(page: Page) -> None:
    tag = uuid.uuid4().hex[:6]
    page.goto("/app/operations")
    page.get_by_label("Title").fill(f"Lifecycle plan {tag}")
    page.get_by_role("button", name="Start the plan").click()
    form = page.get_by_role("form", name="Add an operation to this board")
    form.get_by_label("Title").fill(f"Weed {tag}")
    form.get_by_role("button", name="Add operation").click()
    page.get_by_label(f"Move Weed {tag} to").select_option("done")
    page.locator("li.card", has_text=f"Weed {tag}").get_by_role("button", name="Move").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("cannot move from todo to done")
    expect(alert).to_contain_text("status: allowed from todo: blocked, cancelled, in_progress")
    assert axe_violations(page) == []


def test_an_items_page_names_its_board_and_dependencies_by_their_titles(
    page: Page, console_stack: DevStack
) -> None:
    headers = {"Authorization": f"Bearer {console_stack.login()}"}
    with httpx.Client(base_url=console_stack.gateway_url, headers=headers, timeout=30) as api:

        def create(body: dict[str, object]) -> str:
            created = api.post("/api/v1/work-items", json=body)
            assert created.status_code == 201, created.text
            return str(created.json()["data"]["id"])

        plan = create({"kind": "plan", "title": "Named plan"})
        op = create({"kind": "operation", "title": "Harvest block 2", "parent_id": plan,
                     "operation_type": "harvest"})  # fmt: skip
        first = create({"kind": "task", "title": "Sharpen sickles", "parent_id": op})
        second = create({"kind": "task", "title": "Cut rows 1-20", "parent_id": op})
        edge = {"predecessor_id": first, "successor_id": second}
        assert api.post("/api/v1/dependencies", json=edge).status_code == 201
    page.goto(f"/app/operations/items/{second}")
    expect(page.locator("dl.facts").get_by_role("link", name="Harvest block 2")).to_be_visible()
    page.get_by_role("link", name="Sharpen sickles").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sharpen sickles")
    expect(page.get_by_role("link", name="Cut rows 1-20")).to_be_visible()  # it blocks it
