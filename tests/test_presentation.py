"""Presentation mode of the committee meeting page under AppTest (test_meeting_page's
registry): the agenda from the link, one item a screen, next and previous in the URL, no
working controls. The browser test (test_browser_demo) steps through it on the real demo."""

from __future__ import annotations

import pytest
from app_under_test import assert_clean, run_app

from views import presentation as agenda

pytestmark = pytest.mark.usefixtures("clean_environment", "navigation_as_in_a_running_server")

PAGE = "pages/meeting.py"


def open_page(query: dict[str, str]):
    at = run_app({"level": "2", "area": "D1", **query})
    at.switch_page(PAGE).run()
    assert_clean(at)
    return at


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def test_a_link_opens_the_agenda_item_it_names(meeting_registry_url: str):
    at = open_page({"present": "1", "item": "3"})
    assert at.title[0].value == "Stuck referrals"
    assert at.toggle(key="present_mode").value is True
    labels = [b.label for b in at.button]
    assert "Start meeting" not in labels and "Add the action point" not in labels
    assert not at.get("download_button")  # no working controls
    assert any("3 of 5" in m.value for m in at.markdown)
    assert any('[data-testid="stSidebar"]' in m.value for m in at.markdown)  # hidden


def test_next_and_previous_step_through_the_agenda_and_keep_it_in_the_url(meeting_registry_url: str):
    at = open_page({"present": "1"})
    titles = [at.title[0].value]
    for _ in range(len(agenda.AGENDA) - 1):
        button(at, "Next").click().run()
        assert_clean(at)
        titles.append(at.title[0].value)
    assert titles == ["Headline figures since the last meeting",
                      "The union councils left behind", "Stuck referrals", "Double dipping",
                      "Open action points"]
    assert at.query_params["item"] == ["5"] or at.query_params["item"] == "5"
    assert button(at, "Next").disabled
    button(at, "Previous").click().run()
    assert at.title[0].value == "Double dipping"
    assert at.query_params["present"] in ("1", ["1"])


def test_switching_it_off_brings_the_working_page_back(meeting_registry_url: str):
    at = open_page({"present": "1", "item": "2"})
    at.toggle(key="present_mode").set_value(False).run()
    assert_clean(at)
    assert at.title[0].value == "Committee meeting"
    assert "present" not in at.query_params and "item" not in at.query_params
    assert "Start meeting" in [b.label for b in at.button]


@pytest.mark.parametrize(("text", "number"), [(None, 1), ("2", 2), ("9", 5), ("0", 1),
                                              ("two", 1)])
def test_the_position_in_the_link_is_read_safely(text, number):
    assert agenda.position(text) == number


def test_level_names_read_in_the_plural():
    assert agenda.plural("Union council") == "union councils"
    assert agenda.plural("Locality") == "localities"
    assert agenda.plural("Tehsil") == "tehsils"
