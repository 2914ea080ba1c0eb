"""The neighbour links of a page in every direction: where they lead, and the `Page` they say.

`Page` is the client's own count, echoed; the links count from it, never below 0.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.support import AUTH, NUMBERS, add, pool_path


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def sids(body: dict) -> list[str]:
    return [entry["sid"] for entry in body["phone_numbers"]]


def fill(client, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    for number in NUMBERS[:count]:
        assert add(client, number).status_code == 201
    return NUMBERS[:count]


def test_a_backward_pages_links_lead_on_both_sides(client) -> None:
    numbers = fill(client, 4)
    url = pool_path() + "?PageSize=1"
    pages = []
    while url:  # forward to the last page
        pages.append(client.get(url, auth=AUTH).json())
        url = pages[-1]["meta"]["next_page_url"]
    back = client.get(pages[-1]["meta"]["previous_page_url"], auth=AUTH).json()
    assert sids(back) == [numbers[2]] and back["meta"]["page"] == 2
    # Its next link, from a page read backward, leads forward again to the last page.
    assert query(back["meta"]["next_page_url"])["Page"] == "3"
    assert query(back["meta"]["next_page_url"])["PageToken"].startswith("PA")
    again = client.get(back["meta"]["next_page_url"], auth=AUTH).json()
    assert sids(again) == [numbers[3]] and again["meta"]["next_page_url"] is None
    # And backward all the way: every page once, the first with no previous link.
    seen, url = [], pages[-1]["meta"]["previous_page_url"]
    while url:
        body = client.get(url, auth=AUTH).json()
        seen = sids(body) + seen
        url = body["meta"]["previous_page_url"]
    assert seen == numbers[:3] and body["meta"]["page"] == 0


def test_the_previous_link_never_counts_below_page_0(client) -> None:
    """A client that sends Page=0 with a later page's token (its own count) gets a previous
    link that says Page=0, and following it gives page 0, not -1."""
    numbers = fill(client, 3)
    first = client.get(pool_path(), params={"PageSize": 1}, auth=AUTH).json()
    token = query(first["meta"]["next_page_url"])["PageToken"]
    second = client.get(
        pool_path(), params={"PageSize": 1, "Page": 0, "PageToken": token}, auth=AUTH
    ).json()
    assert sids(second) == [numbers[1]] and second["meta"]["page"] == 0
    assert query(second["meta"]["previous_page_url"])["Page"] == "0"
    back = client.get(second["meta"]["previous_page_url"], auth=AUTH)
    assert back.status_code == 200, back.text
    assert sids(back.json()) == [numbers[0]] and back.json()["meta"]["page"] == 0
    assert back.json()["meta"]["previous_page_url"] is None
    # The token itself counts from 0 too: sent without Page, it says page 0.
    only_token = {
        "PageSize": 1,
        "PageToken": query(second["meta"]["previous_page_url"])["PageToken"],
    }
    back = client.get(pool_path(), params=only_token, auth=AUTH)
    assert back.status_code == 200, back.text
    assert sids(back.json()) == [numbers[0]] and back.json()["meta"]["page"] == 0
