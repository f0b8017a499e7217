"""Field operations pages in a real browser: the board (keyboard move, drag and drop, a stale
card refused with 412), an item's comments, time and activity, my tasks, a season's
burndown; axe and page weight on each."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import axe_violations, csrf_of, screenshot

MAX_PAGE_BYTES = 100 * 1024


@dataclass(frozen=True)
class Work:
    api: httpx.Client
    plan: dict[str, Any]
    op: dict[str, Any]
    first: dict[str, Any]
    second: dict[str, Any]
    season: dict[str, Any]

    def get(self, item: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/api/v1/work-items/{item['id']}").json()["data"]
        return found


def _subject(token: str) -> str:
    claims = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"])


@pytest.fixture(scope="module")
def work(console_stack: DevStack) -> Iterator[Work]:
    token = console_stack.login()
    with httpx.Client(
        base_url=console_stack.gateway_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ) as api:

        def create(path: str, body: dict[str, Any]) -> dict[str, Any]:
            response = api.post(path, json=body)
            assert response.status_code == 201, response.text
            created: dict[str, Any] = response.json()["data"]
            return created

        season = create(
            "/api/v1/seasons",
            {"name": "Kharif 2026", "starts_on": "2026-06-01", "ends_on": "2026-06-10"},
        )
        plan = create("/api/v1/work-items", {"kind": "plan", "title": "Station plan 2026"})
        op = create(
            "/api/v1/work-items",
            {"kind": "operation", "title": "Spray block 3", "parent_id": plan["id"],
             "operation_type": "spraying"},
        )  # fmt: skip
        first = create(
            "/api/v1/work-items",
            {"kind": "task", "title": "Mix fungicide", "parent_id": op["id"],
             "assignees": [_subject(token)], "due": "2026-06-03", "season_id": season["id"],
             "estimate_hours": 3},
        )  # fmt: skip
        second = create(
            "/api/v1/work-items",
            {"kind": "task", "title": "Spray rows 1-40", "parent_id": op["id"]},
        )
        edge = {"predecessor_id": first["id"], "successor_id": second["id"]}
        assert api.post("/api/v1/dependencies", json=edge).status_code == 201
        yield Work(api, plan, op, first, second, season)


def _column(page: Page, status: str, title: str) -> Any:
    return page.locator(f"[data-status={status}] li.card", has_text=title)


def test_the_board_moves_cards_by_keyboard_and_by_drag_and_refuses_a_stale_card(
    page: Page, work: Work
) -> None:
    page.goto(f"/app/operations/board/{work.op['id']}")
    expect(_column(page, "todo", "Mix fungicide")).to_have_count(1)
    page.get_by_label("Move Mix fungicide to").select_option("in_progress")
    page.get_by_label("Move Mix fungicide to").focus()
    page.keyboard.press("Tab")  # to its Move button
    page.keyboard.press("Enter")
    expect(_column(page, "in_progress", "Mix fungicide")).to_have_count(1)
    assert work.get(work.first)["status"] == "in_progress"

    _column(page, "in_progress", "Mix fungicide").drag_to(page.locator("[data-status=done]"))
    expect(_column(page, "done", "Mix fungicide")).to_have_count(1)
    assert work.get(work.first)["status"] == "done"
    screenshot(page, "operations-board")

    # Someone else changes the second card after this board was drawn: its move is refused.
    changed = work.api.patch(f"/api/v1/work-items/{work.second['id']}", json={"priority": "high"})
    assert changed.status_code == 200
    page.get_by_label("Move Spray rows 1-40 to").select_option("blocked")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("li.card", has_text="Spray rows 1-40").get_by_role("button").click()
    assert posted.value.status == 412
    assert work.get(work.second)["status"] == "todo"


def test_an_items_page_takes_comments_and_time_and_shows_its_activity(
    page: Page, work: Work
) -> None:
    # A task of this test's own, changed here: the activity it shows does not depend on
    # whether the board test (which changes the shared tasks) ran first.
    created = work.api.post(
        "/api/v1/work-items",
        json={"kind": "task", "title": "Spray rows 41-80", "parent_id": work.op["id"]},
    )
    assert created.status_code == 201, created.text
    item = created.json()["data"]
    edge = {"predecessor_id": work.second["id"], "successor_id": item["id"]}
    assert work.api.post("/api/v1/dependencies", json=edge).status_code == 201
    changed = work.api.patch(f"/api/v1/work-items/{item['id']}", json={"priority": "high"})
    assert changed.status_code == 200, changed.text
    page.goto(f"/app/operations/items/{item['id']}")
    expect(page.get_by_text("Waits for")).to_be_visible()
    page.get_by_label("Comment").fill("Wind below 10 km/h before spraying")
    page.get_by_role("button", name="Add comment").click()
    expect(page.get_by_text("Wind below 10 km/h before spraying")).to_be_visible()
    page.get_by_label("Day").fill("2026-06-04")
    page.get_by_label("Hours").fill("1.5")
    page.get_by_role("button", name="Log time").click()
    expect(page.locator("table", has_text="1.5")).to_be_visible()
    expect(page.locator(".activity")).to_contain_text("priority normal → high")
    screenshot(page, "operations-item")


def test_my_tasks_and_the_season_burndown(page: Page, work: Work) -> None:
    page.goto("/app/operations/mine")
    expect(page.get_by_role("link", name="Mix fungicide")).to_be_visible()
    expect(page.get_by_role("link", name="Spray rows 1-40")).to_have_count(0)
    page.goto(f"/app/operations/seasons/{work.season['id']}")
    expect(page.locator("svg.burndown polyline.remaining")).to_have_count(1)
    expect(page.get_by_role("link", name="Mix fungicide")).to_be_visible()
    screenshot(page, "operations-season")


@pytest.mark.parametrize("which", ["overview", "board", "item", "mine", "season"])
def test_operations_pages_pass_axe_and_weigh_under_100_kb(
    page: Page, work: Work, which: str
) -> None:
    path = {
        "overview": "/app/operations",
        "board": f"/app/operations/board/{work.op['id']}",
        "item": f"/app/operations/items/{work.first['id']}",
        "mine": "/app/operations/mine",
        "season": f"/app/operations/seasons/{work.season['id']}",
    }[which]
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    css = page.request.get("/app/static/console.css").body()
    assert len(response.body()) + len(css) < MAX_PAGE_BYTES
    assert axe_violations(page) == []


def test_another_organizations_operations_urls_are_not_found_and_change_nothing(
    outsider_context: BrowserContext, work: Work
) -> None:
    item, season = work.second["id"], work.season["id"]
    for path in (
        f"/app/operations/board/{work.op['id']}",
        f"/app/operations/items/{item}",
        f"/app/operations/seasons/{season}",
    ):
        assert outsider_context.request.get(path, max_redirects=0).status == 404, path
    page = outsider_context.new_page()
    page.goto("/app/operations")
    forged = {"csrf_token": csrf_of(page), "status": "cancelled"}  # its own session's token
    posted = outsider_context.request.post(f"/app/operations/items/{item}/status", form=forged)
    assert posted.status == 404
    page.close()
    assert work.get(work.second)["status"] != "cancelled"
