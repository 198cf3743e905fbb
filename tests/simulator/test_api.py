"""Tests of the simulator's HTTP API surface: auth, validation, listings."""

from __future__ import annotations

import json
import re

import aiohttp
import pytest

from elks_simulator import Account, Simulator

from .conftest import (
    INACTIVE_NUMBER,
    MOBILE_NUMBER,
    PASSWORD,
    SMS_NUMBER,
    USERNAME,
    VOICE_NUMBER,
    Api,
    basic,
)

ID_RE = re.compile(r"^[cnu][0-9a-f]{32}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")
PLAY = json.dumps({"play": "sound/beep"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic(USERNAME, "wrong"),
        basic("nobody", PASSWORD),
        {"Authorization": "Basic !!!notbase64"},
        {"Authorization": "Bearer abc"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/me"), ("POST", "/calls"), ("GET", "/nonexistent")]
)
async def test_auth_rejected(
    api: Api, headers: dict[str, str], method: str, path: str
) -> None:
    """Missing or wrong credentials get 401 with a Basic challenge."""
    status, text, resp_headers = await api.request(method, path, headers=headers)
    assert status == 401
    assert text == "Unauthorized"
    assert resp_headers["WWW-Authenticate"] == 'Basic realm="46elks"'
    assert resp_headers["Content-Type"].startswith("text/plain")


async def test_me(api: Api, account: Account) -> None:
    """GET /a1/me returns the account."""
    data = await api.get_json("/me")
    assert data == {
        "id": account.id,
        "displayname": "Test Home",
        "mobilenumber": MOBILE_NUMBER,
        "email": "",
        "currency": "SEK",
        "balance": 10_000_000,
    }
    assert ID_RE.match(data["id"]) and data["id"].startswith("u")
    assert api.sim.requests[-1].username == USERNAME
    assert api.sim.requests[-1].status == 200


async def test_username_defaults_to_id(api: Api, sim: Simulator) -> None:
    """An account without username authenticates with its id."""
    other = sim.add_account(password="pw")
    assert other.username == other.id
    status, text, _ = await api.request("GET", "/me", headers=basic(other.id, "pw"))
    assert status == 200
    assert json.loads(text)["id"] == other.id


@pytest.mark.parametrize("path", ["/Me", "/ME", "/me/"])
async def test_case_insensitive_paths(api: Api, path: str) -> None:
    """Paths are routed case-insensitively."""
    assert (await api.get_json(path))["displayname"] == "Test Home"


async def test_case_insensitive_calls(api: Api, sim: Simulator) -> None:
    """POST /A1/Calls creates a call."""
    url = sim.base_url
    assert url is not None
    async with api.session.post(
        url.replace("/a1", "/A1") + "/Calls",
        data={"from": VOICE_NUMBER, "to": "+46700000999", "voice_start": PLAY},
        headers=api.auth,
    ) as resp:
        assert resp.status == 200
        assert (await resp.json())["id"] in sim.calls


async def test_unknown_routes(
    api: Api, http: aiohttp.ClientSession, sim: Simulator
) -> None:
    """Unknown routes are 404 plain text; wrong methods 405."""
    status, text, headers = await api.request("GET", "/nope")
    assert status == 404
    assert headers["Content-Type"].startswith("text/plain")
    assert text == "Not Found"
    async with http.get(f"{sim.root_url}/whatever") as resp:
        assert resp.status == 404
    status, _, _ = await api.request("DELETE", "/me")
    assert status == 405


async def test_create_call(api: Api, sim: Simulator) -> None:
    """A valid POST returns the call object and starts the lifecycle."""
    status, text = await api.post_call(
        from_=VOICE_NUMBER, to="+46700000999", voice_start=PLAY, timeout="30"
    )
    assert status == 200, text
    data = json.loads(text)
    assert set(data) == {"id", "direction", "from", "to", "created", "state"}
    assert data["direction"] == "outgoing"
    assert data["from"] == VOICE_NUMBER
    assert data["to"] == "+46700000999"
    assert data["state"] == "ongoing"
    assert TS_RE.match(data["created"])
    assert data["id"].startswith("c") and ID_RE.match(data["id"])
    call = sim.calls[data["id"]]
    assert call.timeout == 30
    await sim.wait_call_finished(data["id"])
    assert call.state == "success"
    rec = sim.requests[-1]
    assert rec.method == "POST"
    assert rec.form["to"] == "+46700000999"
    assert rec.status == 200


async def test_mobilenumber_is_valid_caller_id(api: Api, sim: Simulator) -> None:
    """The account's own mobile number may be used as from."""
    status, text = await api.post_call(
        from_=MOBILE_NUMBER, to="+46700000999", voice_start=PLAY
    )
    assert status == 200, text


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({}, 'Missing "from"'),
        (
            {"from": SMS_NUMBER},
            f'Invalid "from": {SMS_NUMBER} is not a voice-enabled number on this account',
        ),
        (
            {"from": INACTIVE_NUMBER},
            f'Invalid "from": {INACTIVE_NUMBER} is not a voice-enabled number on this account',
        ),
        (
            {"from": "+46111111111"},
            'Invalid "from": +46111111111 is not a voice-enabled number on this account',
        ),
        ({"from": VOICE_NUMBER}, 'Missing "to"'),
        (
            {"from": VOICE_NUMBER, "to": "+4612x"},
            'Invalid "to": "+4612x" is not an E.164 number',
        ),
        (
            {"from": VOICE_NUMBER, "to": "0701234567"},
            'Invalid "to": "0701234567" is not an E.164 number',
        ),
        (
            {"from": VOICE_NUMBER, "to": "+0701234567"},
            'Invalid "to": "+0701234567" is not an E.164 number',
        ),
        (
            {"from": VOICE_NUMBER, "to": "+1234567890123456"},
            'Invalid "to": "+1234567890123456" is not an E.164 number',
        ),
        ({"from": VOICE_NUMBER, "to": "+46700000999"}, 'Missing "voice_start"'),
        (
            {"from": VOICE_NUMBER, "to": "+46700000999", "voice_start": "{not json"},
            'Invalid "voice_start": not valid JSON',
        ),
        (
            {"from": VOICE_NUMBER, "to": "+46700000999", "voice_start": '{"dance": 1}'},
            'Invalid "voice_start": unknown action key "dance"',
        ),
        (
            {"from": VOICE_NUMBER, "to": "+46700000999", "voice_start": '["play"]'},
            'Invalid "voice_start": an action must be a JSON object',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": '{"next": "http://x/"}',
            },
            'Invalid "voice_start": no action',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": '{"play": "sound/beep", "next": {"bogus": 1}}',
            },
            'Invalid "voice_start": unknown action key "bogus"',
        ),
        (
            {"from": VOICE_NUMBER, "to": "+46700000999", "voice_start": "ftp://x/y"},
            'Invalid "voice_start": "ftp://x/y" is neither an http(s) URL nor a JSON action',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": PLAY,
                "whenhangup": "not-a-url",
            },
            'Invalid "whenhangup": "not-a-url" is not an http(s) URL',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": PLAY,
                "timeout": "abc",
            },
            'Invalid "timeout": "abc" must be an integer between 1 and 300',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": PLAY,
                "timeout": "0",
            },
            'Invalid "timeout": "0" must be an integer between 1 and 300',
        ),
        (
            {
                "from": VOICE_NUMBER,
                "to": "+46700000999",
                "voice_start": PLAY,
                "timeout": "301",
            },
            'Invalid "timeout": "301" must be an integer between 1 and 300',
        ),
    ],
)
async def test_validation_errors(
    api: Api, sim: Simulator, form: dict[str, str], message: str
) -> None:
    """Each invalid field gets a 400 plain-text message naming it."""
    status, text, headers = await api.request("POST", "/calls", data=form)
    assert status == 400
    assert text.startswith(message), text
    assert headers["Content-Type"].startswith("text/plain")
    assert sim.calls == {}


async def test_validation_order(api: Api) -> None:
    """Several bad fields: the first in order (from, to, voice_start, ...) is reported."""
    status, text, _ = await api.request(
        "POST",
        "/calls",
        data={"from": VOICE_NUMBER, "to": "bad", "voice_start": "bad", "timeout": "x"},
    )
    assert status == 400
    assert text.startswith('Invalid "to"')


async def test_url_voice_start_accepted(api: Api) -> None:
    """An https voice_start URL and timeout bounds 1 and 300 are valid."""
    for timeout in ("1", "300"):
        status, text = await api.post_call(
            from_=VOICE_NUMBER,
            to="+46700000999",
            voice_start="https://example.invalid/start",
            whenhangup="https://example.invalid/hangup",
            timeout=timeout,
        )
        assert status == 200, text


async def test_insufficient_balance(api: Api, sim: Simulator, account: Account) -> None:
    """Balance below one minute's cost gives 402."""
    account.balance = sim.rate_per_minute - 1
    status, text = await api.post_call(
        from_=VOICE_NUMBER, to="+46700000999", voice_start=PLAY
    )
    assert status == 402
    assert text == "Insufficient credits"
    assert sim.calls == {}
    account.balance = sim.rate_per_minute
    status, _ = await api.post_call(
        from_=VOICE_NUMBER, to="+46700000999", voice_start=PLAY
    )
    assert status == 200


async def test_numbers_listing_and_paging(
    api: Api, sim: Simulator, account: Account
) -> None:
    """GET /a1/numbers lists every number, paged with limit/start/next."""
    data = await api.get_json("/numbers")
    assert "next" not in data
    numbers = {n["number"]: n for n in data["data"]}
    assert set(numbers) == {VOICE_NUMBER, SMS_NUMBER, INACTIVE_NUMBER}
    voice = numbers[VOICE_NUMBER]
    assert voice["active"] == "yes"
    assert voice["capabilities"] == ["voice", "sms"]
    assert voice["category"] == "mobile"
    assert voice["country"] == "se"
    assert ID_RE.match(voice["id"]) and voice["id"].startswith("n")
    assert TS_RE.match(voice["allocated"])
    assert "name" in voice
    assert numbers[INACTIVE_NUMBER]["active"] == "no"
    assert numbers[SMS_NUMBER]["capabilities"] == ["sms"]

    page1 = await api.get_json("/numbers", params={"limit": "2"})
    assert len(page1["data"]) == 2
    assert "next" in page1
    page2 = await api.get_json(
        "/numbers", params={"limit": "2", "start": page1["next"]}
    )
    assert len(page2["data"]) == 1
    assert "next" not in page2
    seen = [n["number"] for n in page1["data"] + page2["data"]]
    assert sorted(seen) == sorted(numbers)

    status, _, _ = await api.request("GET", "/numbers", params={"limit": "x"})
    assert status == 400
    status, _, _ = await api.request("GET", "/numbers", params={"start": "nbogus"})
    assert status == 400


async def test_numbers_isolated(api: Api, sim: Simulator) -> None:
    """Numbers of another account are not listed."""
    other = sim.add_account(username="other", password="pw")
    sim.add_number(other, "+46766869999")
    data = await api.get_json("/numbers")
    assert "+46766869999" not in {n["number"] for n in data["data"]}


async def test_calls_history_paging(api: Api, sim: Simulator) -> None:
    """GET /a1/calls: newest first; next is a cursor returning strictly older calls."""
    ids = []
    for i in range(5):
        reply = await api.call(f"+4670000090{i}", {"hangup": "reject"})
        ids.append(reply["id"])
    for call_id in ids:
        await sim.wait_call_finished(call_id)
    everything = await api.get_json("/calls")
    assert [c["id"] for c in everything["data"]] == ids[::-1]
    assert "next" not in everything
    first = everything["data"][0]
    assert {
        "id",
        "state",
        "from",
        "to",
        "created",
        "start",
        "duration",
        "cost",
        "direction",
        "legs",
        "actions",
    } <= set(first)

    collected: list[str] = []
    params = {"limit": "2"}
    pages = 0
    while True:
        page = await api.get_json("/calls", params=params)
        pages += 1
        assert len(page["data"]) <= 2
        collected += [c["id"] for c in page["data"]]
        if "next" not in page:
            break
        assert page["next"] == page["data"][-1]["created"]
        params = {"limit": "2", "start": page["next"]}
    assert pages == 3
    assert collected == ids[::-1]

    created = [sim.calls[i].created for i in ids]
    window = await api.get_json(
        "/calls", params={"start": created[3], "end": created[1]}
    )
    assert [c["id"] for c in window["data"]] == [ids[2], ids[1]]

    capped = await api.get_json("/calls", params={"limit": "1000"})
    assert len(capped["data"]) == 5
    status, text, _ = await api.request("GET", "/calls", params={"start": "yesterday"})
    assert status == 400
    assert '"start"' in text


async def test_call_by_id_and_isolation(api: Api, sim: Simulator) -> None:
    """GET /a1/calls/{id} works for own calls, 404 for unknown and foreign ones."""
    reply = await api.call("+46700000999", {"play": "sound/beep"})
    await sim.wait_call_finished(reply["id"])
    data = await api.get_json(f"/calls/{reply['id']}")
    assert data["id"] == reply["id"]
    assert data["state"] == "success"
    assert data["actions"] == [{"play": "sound/beep", "result": "success"}]
    assert data["legs"] == []
    assert data["duration"] == 3
    assert data["cost"] == 3500

    status, text, headers = await api.request("GET", "/calls/c" + "0" * 32)
    assert status == 404
    assert headers["Content-Type"].startswith("text/plain")

    other = sim.add_account(
        username="other", password="pw", mobilenumber="+46700000555"
    )
    other_api = Api(api.session, sim, basic("other", "pw"))
    status, _, _ = await other_api.request("GET", f"/calls/{reply['id']}")
    assert status == 404
    assert (await other_api.get_json("/calls"))["data"] == []
    status, _ = await other_api.post_call(
        from_=VOICE_NUMBER, to="+46700000999", voice_start=PLAY
    )
    assert status == 400
    assert other.balance == 10_000_000
