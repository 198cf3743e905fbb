"""ElksClient over real loopback HTTP, and its pure helpers."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
from hypothesis import given, strategies as st
import pytest
from yarl import URL

from custom_components.elks import api
from custom_components.elks.api import (
    Call,
    ElksAuthenticationError,
    ElksCallOutcomeUnknownError,
    ElksClient,
    ElksConnectionError,
    ElksRateLimitedError,
    ElksRequestError,
    ElksResponseError,
    InvalidActionError,
    InvalidNumberError,
    amount,
    connect_action,
    hangup_action,
    is_audio_source,
    ivr_action,
    normalize_number,
    parse_timestamp,
    play_action,
    validate_action,
    with_next,
)

from .conftest import CALLER_ID, Setup


async def test_account_and_numbers(setup: Setup) -> None:
    """GET /me and every page of GET /numbers."""
    for i in range(150):
        setup.sim.add_number(setup.account, f"+4676686{i:04d}", capabilities=("sms",))
    account = await setup.client.get_account()
    assert account.id == setup.account.id
    assert account.displayname == "Home"
    assert account.balance_amount == setup.account.balance / 10000
    numbers = await setup.client.list_numbers()
    assert len(numbers) == 151
    assert [n.number for n in numbers if n.can_call_from] == [CALLER_ID]
    assert sum(r.path == "/a1/numbers" for r in setup.sim.requests) == 2


async def test_place_and_read_calls(setup: Setup) -> None:
    """A placed call can be read back once it ended."""
    placed = await setup.client.place_call(
        from_number=CALLER_ID,
        to="+46700000101",
        voice_start=play_action("sound/beep"),
        whenhangup="http://127.0.0.1:9/hook",
        timeout=30,
    )
    assert placed.state == "ongoing"
    assert placed.answered is False
    await setup.sim.wait_call_finished(placed.id)
    ended = await setup.client.get_call(placed.id)
    assert ended.state == "success"
    assert ended.answered
    assert ended.duration == setup.sim.calls[placed.id].duration
    assert amount(ended.cost) == setup.sim.calls[placed.id].cost / 10000


async def test_voice_start_string_passed_as_is(setup: Setup) -> None:
    """A voice_start URL string is sent unchanged."""
    await setup.client.place_call(
        from_number=CALLER_ID,
        to="+46700000101",
        voice_start="https://example.com/start",
    )
    [post] = [r for r in setup.sim.requests if r.method == "POST"]
    assert post.form["voice_start"] == "https://example.com/start"
    assert "timeout" not in post.form
    assert "whenhangup" not in post.form


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (401, "Unauthorized", ElksAuthenticationError),
        (429, "slow down", ElksRateLimitedError),
        (400, "Invalid to", ElksRequestError),
    ],
)
async def test_error_answers(
    setup: Setup, status: int, body: str, error: type[Exception]
) -> None:
    """Each kind of error answer raises its own exception type."""
    setup.sim.faults.fail_next(status, body=body)
    with pytest.raises(error):
        await setup.client.place_call(
            from_number=CALLER_ID, to="+46700000101", voice_start="{}"
        )


UNREADABLE_ANSWERS = [
    pytest.param(200, "not json", id="not-json"),
    pytest.param(200, "", id="empty"),
    pytest.param(204, "", id="no-content"),
    pytest.param(200, "[1, 2]", id="list"),
    pytest.param(200, '"c1"', id="string"),
    pytest.param(
        200, '{"state": "ongoing", "from": "+4676", "to": "+4670"}', id="no-id"
    ),
    pytest.param(
        201,
        '{"id": "c1", "state": "melted", "from": "+46766860001",'
        ' "to": "+46700000101", "created": "2026-11-27T10:00:00"}',
        id="unknown-state",
    ),
    pytest.param(302, "moved", id="redirect"),
    pytest.param(307, "", id="temporary-redirect"),
]


@pytest.mark.parametrize(("status", "body"), UNREADABLE_ANSWERS)
async def test_unreadable_call_answer_may_have_placed_the_call(
    setup: Setup, status: int, body: str
) -> None:
    """46elks took the POST but its answer makes no sense: outcome unknown, sent once."""
    setup.sim.faults.answer_next(status, body=body)
    with pytest.raises(ElksCallOutcomeUnknownError) as err:
        await setup.client.place_call(
            from_number=CALLER_ID,
            to="+46700000101",
            voice_start=play_action("sound/beep"),
        )
    assert "46elks took the request but its answer could not be read" in str(err.value)
    assert sum(r.method == "POST" for r in setup.sim.requests) == 1
    assert len(setup.sim.calls) == 1  # the simulator did create the call


async def test_redirect_is_not_followed(setup: Setup) -> None:
    """A redirect with a Location is reported, not followed with our credentials."""
    setup.sim.faults.answer_next(302, body="moved")
    with pytest.raises(ElksCallOutcomeUnknownError):
        await setup.client.place_call(
            from_number=CALLER_ID,
            to="+46700000101",
            voice_start=play_action("sound/beep"),
        )
    assert [r.method for r in setup.sim.requests] == ["POST"]


@pytest.mark.parametrize(("status", "body"), UNREADABLE_ANSWERS)
async def test_unreadable_read_answer_is_a_response_error(
    setup: Setup, status: int, body: str
) -> None:
    """A GET changes nothing, so its unreadable answer is a plain response error."""
    setup.sim.faults.fail_next(status, body=body, path="/a1/calls/c1")
    with pytest.raises(ElksResponseError) as err:
        await setup.client.get_call("c1")
    assert type(err.value) is ElksResponseError


async def test_rate_limit_keeps_retry_after(setup: Setup) -> None:
    """Retry-After is kept for the caller."""
    setup.sim.faults.fail_next(429, path="/a1/me")
    with pytest.raises(ElksRateLimitedError) as err:
        await setup.client.get_account()
    assert err.value.retry_after == 1.0


async def test_bad_credentials(setup: Setup) -> None:
    """Wrong credentials are an authentication error."""
    client = ElksClient(setup.session, "user", "wrong", setup.base_url)
    with pytest.raises(ElksAuthenticationError):
        await client.get_account()


async def test_get_timeout_is_a_connection_error(setup: Setup) -> None:
    """A read that times out can be retried by the caller: it changed nothing."""
    client = ElksClient(setup.session, "user", "pass", setup.base_url, timeout=0.2)
    setup.sim.faults.delay_next(30.0, path="/a1/me")
    with pytest.raises(ElksConnectionError):
        await client.get_account()


async def test_post_timeout_is_outcome_unknown(setup: Setup) -> None:
    """A call that timed out may exist; it is sent once only."""
    client = ElksClient(setup.session, "user", "pass", setup.base_url, timeout=0.2)
    setup.sim.faults.delay_next(30.0)  # cut short when the simulator stops
    with pytest.raises(ElksCallOutcomeUnknownError):
        await client.place_call(
            from_number=CALLER_ID, to="+46700000101", voice_start="{}"
        )
    # The simulator may read the request after the client gave up (busy machine).
    async with asyncio.timeout(60):
        while not setup.sim.requests:
            await asyncio.sleep(0.005)
    assert sum(r.method == "POST" for r in setup.sim.requests) == 1


async def test_connection_refused(setup: Setup) -> None:
    """Nothing listening: a connection error, the call certainly not placed."""
    client = ElksClient(setup.session, "user", "pass", "http://127.0.0.1:9/a1")
    with pytest.raises(ElksConnectionError):
        await client.place_call(
            from_number=CALLER_ID, to="+46700000101", voice_start="{}"
        )


def test_action_builders() -> None:
    """Builders produce exactly what 46elks expects."""
    assert play_action("sound/beep") == {"play": "sound/beep", "skippable": False}
    assert connect_action("+46700000001") == {"connect": "+46700000001"}
    assert connect_action("+46700000001", "+46766860001") == {
        "connect": "+46700000001",
        "callerid": "+46766860001",
    }
    assert ivr_action("sound/beep", digits=2) == {
        "ivr": "sound/beep",
        "digits": 2,
        "timeout": 10,
        "repeat": 3,
    }
    assert hangup_action() == {"hangup": "reject"}
    chained = with_next(play_action("sound/beep"), hangup_action("busy"))
    assert chained == {
        "play": "sound/beep",
        "skippable": False,
        "next": {"hangup": "busy"},
    }
    for action in (chained, ivr_action("sound/beep"), connect_action("+46700000001")):
        assert validate_action(action) == action


@pytest.mark.parametrize(
    ("action", "path", "problem"),
    [
        ("play", "actions", "must be an object"),
        ({}, "actions", "needs one of"),
        ({"play": "a", "connect": "b"}, "actions", "more than one action"),
        ({"play": "a", 1: "x"}, "actions", "is not text"),
        ({"play": "a", "1": {"play": "b"}}, "actions", "only allowed with ivr"),
        ({"ivr": "a", "1": {"dance": 1}}, "actions.1", "needs one of"),
        (
            {"play": "a", "next": {"play": "b", "next": "ftp://x"}},
            "actions.next.next",
            "http(s) URL",
        ),
        (
            {"hangup": "busy", "next": {"play": "b"}},
            "actions",
            "hangup cannot have next",
        ),
        ({"play": "a", "shout": True}, "actions", "unknown key 'shout'"),
    ],
)
def test_invalid_actions(action: Any, path: str, problem: str) -> None:
    """Invalid actions name where and what."""
    with pytest.raises(InvalidActionError) as err:
        validate_action(action)
    assert err.value.path == path
    assert problem in err.value.problem


def test_recordcall_with_an_action() -> None:
    """Allow recordcall beside another action."""
    action = {"recordcall": "https://example.com/rec", "connect": "+46700000001"}
    assert validate_action(action) == action


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("+46701234567", "+46701234567"),
        (" +46 70-123 45 67 ", "+46701234567"),
        ("+46 (0)70-123 45 67", None),
        ("0046701234567", "+46701234567"),
        ("+1 (555) 010.9999", "+15550109999"),
        ("0701234567", None),
        ("+0701234567", None),
        ("+467012345678901234", None),
        ("", None),
        ("+46abc", None),
    ],
)
def test_normalize_number(given: str, expected: str | None) -> None:
    """Spacing is tolerated; anything without a country code is not."""
    if expected is None:
        with pytest.raises(InvalidNumberError) as err:
            normalize_number(given)
        assert err.value.number == given
    else:
        assert normalize_number(given) == expected


@given(st.text(max_size=40))
def test_normalize_number_only_returns_e164(text: str) -> None:
    """Whatever comes in, what comes out is E.164 or an InvalidNumberError."""
    try:
        result = normalize_number(text)
    except InvalidNumberError:
        return
    assert result.startswith("+")
    assert result[1:].isdigit()
    assert 2 <= len(result) <= 16
    assert result[1] != "0"


@given(st.from_regex(r"\+[1-9][0-9]{1,14}", fullmatch=True), st.data())
def test_normalize_number_undoes_formatting(number: str, data: st.DataObject) -> None:
    """Any spacing of a valid number normalises back to it."""
    noise = data.draw(
        st.lists(st.sampled_from([" ", "-", "(", ")", "."]), max_size=len(number))
    )
    formatted = (
        number[:2]
        + "".join(n + d for n, d in zip(noise, number[2:], strict=False))
        + number[2 + len(noise) :]
    )
    if "(0)" in formatted.replace(" ", ""):
        # Reads as a trunk prefix that may or may not be meant: refused.
        with pytest.raises(InvalidNumberError):
            normalize_number(formatted)
    else:
        assert normalize_number(formatted) == number


def test_audio_sources() -> None:
    """URLs and built-in sounds can be played; anything else cannot."""
    assert is_audio_source("https://example.com/a.mp3")
    assert is_audio_source("sound/beep")
    assert not is_audio_source("sound/")
    assert not is_audio_source("file:///etc/passwd")
    assert not is_audio_source("https://")


def test_call_from_hangup_form() -> None:
    """A whenhangup form becomes a Call; its JSON lists (never read) are ignored."""
    call = Call.from_json(
        {
            "id": "c1",
            "from": "+46766860001",
            "to": "+46700000101",
            "state": "success",
            "created": "2026-11-27T10:00:00.123456",
            "start": "2026-11-27T10:00:05.000000",
            "duration": "12",
            "cost": "3500",
            "actions": json.dumps([{"play": "sound/beep", "result": "success"}]),
            "legs": "",
        }
    )
    assert call.direction == "outgoing"
    assert call.duration == 12
    assert amount(call.cost) == 0.35
    assert call.answered
    with pytest.raises(ElksResponseError):
        Call.from_json({**call.__dict__} if False else {"id": "c1", "state": "melted"})
    with pytest.raises(ElksResponseError):
        Call.from_json(
            {
                "id": "c",
                "from": "a",
                "to": "b",
                "state": "busy",
                "created": "x",
                "duration": "-5",
            }
        )


def test_account_and_number_parsing_errors() -> None:
    """Objects missing required keys are response errors."""
    with pytest.raises(ElksResponseError):
        api.Account.from_json({})
    with pytest.raises(ElksResponseError):
        api.PhoneNumber.from_json({"id": "n1"})


def test_parse_timestamp() -> None:
    """46elks' zone-less timestamps are UTC."""
    parsed = parse_timestamp("2026-11-27T10:00:00.123456")
    assert parsed is not None
    assert parsed.isoformat() == "2026-11-27T10:00:00.123456+00:00"
    assert parse_timestamp(None) is None
    assert parse_timestamp("yesterday") is None
    assert (
        parse_timestamp("2026-11-27T10:00:00+01:00").utcoffset().total_seconds() == 3600
    )


WEBHOOK_ID = "0123456789abcdef" * 4
HOOK_URL = f"https://ha.example.net/api/webhook/{WEBHOOK_ID}"
CLOUDHOOK_URL = "https://hooks.nabu.casa/gAAAAABnSecretCloudhookToken_xyz"
TTS_URL = "https://ha.example.net/api/tts_proxy/SecretTtsToken123.mp3"
USERNAME = "u5e1c7a1b2c3d4e5f60718293a4b5c6d7"
PASSWORD = "P4ssw0rd-Secret-8F1E"


def _secrets_in(text: str) -> list[str]:
    """Every secret (and the shapes it could be quoted in) found in ``text``."""
    auth = aiohttp.encode_basic_auth(USERNAME, PASSWORD)
    candidates = {
        USERNAME,
        PASSWORD,
        auth,
        auth.partition(" ")[2],
        WEBHOOK_ID,
        HOOK_URL,
        CLOUDHOOK_URL,
        TTS_URL,
        "gAAAAABnSecretCloudhookToken_xyz",
        "SecretTtsToken123",
    }
    lowered = text.lower()
    return [c for c in candidates if c.lower() in lowered]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ElksRequestError),
        (401, ElksAuthenticationError),
        (500, ElksRequestError),
    ],
)
@pytest.mark.parametrize("hook", [HOOK_URL, CLOUDHOOK_URL])
async def test_error_text_quoting_the_request_is_redacted(
    setup: Setup, status: int, error: type[Exception], hook: str
) -> None:
    """46elks' message may quote our form and headers: no secret comes through."""
    account = setup.sim.add_account(username=USERNAME, password=PASSWORD)
    setup.sim.add_number(account, "+46766860002", capabilities=("voice",))
    client = ElksClient(setup.session, USERNAME, PASSWORD, setup.base_url)
    setup.sim.faults.echo_next(status)
    with pytest.raises(error) as err:
        await client.place_call(
            from_number="+46766860002",
            to="+46700000101",
            voice_start=with_next(play_action(TTS_URL), hook),
            whenhangup=hook,
        )
    [post] = [r for r in setup.sim.requests if r.method == "POST"]
    assert post.form["whenhangup"] == hook  # the simulator did see them
    texts = [str(err.value), repr(err.value), *map(str, err.value.args)]
    if isinstance(err.value, ElksRequestError):
        texts.append(err.value.message)
    for text in texts:
        assert _secrets_in(text) == [], text
    # Still names the problem.
    assert 'Invalid "voice_start"' in str(err.value)
    assert api.REDACTED in str(err.value)
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or not _secrets_in(str(err.value.__context__))


async def test_unreadable_answer_quoting_the_request_is_redacted(setup: Setup) -> None:
    """An unreadable 2xx that quotes our URLs is redacted too."""
    setup.sim.faults.answer_next(
        200, body=f"<html>moved: {HOOK_URL} {quote(HOOK_URL, safe='')}</html>"
    )
    with pytest.raises(ElksCallOutcomeUnknownError) as err:
        await setup.client.place_call(
            from_number=CALLER_ID,
            to="+46700000101",
            voice_start=play_action("sound/beep"),
            whenhangup=HOOK_URL,
        )
    assert _secrets_in(str(err.value)) == []
    assert "not JSON" in str(err.value)


@pytest.mark.parametrize(
    "quoted",
    [
        pytest.param(lambda s: s, id="plain"),
        pytest.param(lambda s: quote(s, safe=""), id="percent"),
        pytest.param(quote_plus, id="form"),
        pytest.param(lambda s: json.dumps(s).replace("/", "\\/"), id="json-escaped"),
        pytest.param(lambda s: s.upper(), id="upper-case"),
        pytest.param(lambda s: str(URL(s).path), id="path-only"),
    ],
)
def test_redactor_shapes(quoted: Any) -> None:
    """Secrets go whichever way they are quoted, even at a truncation point."""
    redact = api.Redactor((USERNAME, PASSWORD), urls=[HOOK_URL, CLOUDHOOK_URL])
    for secret in (HOOK_URL, CLOUDHOOK_URL, PASSWORD, USERNAME):
        text = redact(f"before {quoted(secret)} after")
        assert _secrets_in(text) == [], text
        assert text.startswith("before ")
        assert text.endswith(" after")
    # Anything shaped like a webhook id goes, call ids stay.
    call_id = "c" + "0123456789abcdef" * 2
    assert redact(f"{'ab' * 32} {call_id}") == f"{api.REDACTED} {call_id}"
    # Nothing to redact: the text is unchanged.
    assert api.Redactor(())("Invalid to") == "Invalid to"


async def test_update_number_sets_and_clears(setup: Setup) -> None:
    """POST /numbers/{id} sets voice_start and sms_url, "" clears, reads show it."""
    number = setup.sim.add_number(setup.account, "+46766860999")
    hook = "https://example.com/api/webhook/x"
    updated = await setup.client.update_number(
        number.id, voice_start=hook, sms_url=hook
    )
    assert (updated.voice_start, updated.sms_url) == (hook, hook)
    assert updated.can_receive_sms
    listed = {n.id: n for n in await setup.client.list_numbers()}
    assert listed[number.id].voice_start == hook
    cleared = await setup.client.update_number(number.id, voice_start="")
    assert (cleared.voice_start, cleared.sms_url) == (None, hook)
    inline = '{"hangup":"busy"}'
    assert (
        await setup.client.update_number(number.id, voice_start=inline)
    ).voice_start == inline


async def test_update_number_refuses_bad_input(setup: Setup) -> None:
    """Bad ids and empty updates never reach 46elks; 46elks' 4xx is an error."""
    with pytest.raises(ValueError, match="number id"):
        await setup.client.update_number("n1/../calls", voice_start="x")
    with pytest.raises(ValueError, match="nothing"):
        await setup.client.update_number("n1")
    with pytest.raises(ElksRequestError) as err:
        await setup.client.update_number("n" + "0" * 32, sms_url="https://x")
    assert err.value.status == 404
    number = setup.sim.add_number(setup.account, "+46766860998")
    with pytest.raises(ElksRequestError, match="sms_url"):
        await setup.client.update_number(number.id, sms_url="ftp://x")
    with pytest.raises(ElksRequestError, match="voice_start"):
        await setup.client.update_number(number.id, voice_start="not json")


async def test_download_only_from_the_api_host(setup: Setup) -> None:
    """Recordings come from 46elks' own host only, bounded, redirects not followed."""
    client, sim = setup.client, setup.sim
    wav = await client.download(sim.audio_url("r1.wav"), 100_000)
    assert wav[:4] == b"RIFF"
    assert client.is_own_url(sim.audio_url("r1.wav"))
    elsewhere = setup.base_url.replace("127.0.0.1", "127.0.0.2")
    for url in (f"{elsewhere}/x.wav", "file:///etc/passwd", "/a1/x.wav", "x"):
        assert not client.is_own_url(url)
        with pytest.raises(ElksResponseError):
            await client.download(url, 100_000)
    with pytest.raises(ElksResponseError, match="larger than 100 bytes"):
        await client.download(sim.audio_url("r1.wav"), 100)
    # A redirect (Location: /a1/me) is not followed: our credentials stay here.
    sim.faults.answer_next(302, path="/a1/recordings/r2.wav", method="GET")
    with pytest.raises(ElksRequestError):
        await client.download(f"{setup.base_url}/recordings/r2.wav", 100_000)
    assert [r.path for r in sim.requests] == ["/a1/recordings/r2.wav"]


async def test_a_call_waiting_for_a_connection_is_not_timed_out_unsent(
    setup: Setup,
) -> None:
    """Waiting for a free connection does not count: a queued call is sent, not lost.

    One connection: the first call's answer is held past the timeout. The
    second waits for the connection; aiohttp's timeout alone would have
    expired it unsent and reported it "may have been placed".
    """
    connector = aiohttp.TCPConnector(limit_per_host=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        client = ElksClient(session, "user", "pass", setup.base_url, timeout=2.0)
        first_answer = setup.sim.faults.hold_response_next()

        def place(to: str) -> Any:
            return client.place_call(
                from_number=CALLER_ID, to=to, voice_start=play_action("sound/beep")
            )

        first, second = await asyncio.gather(
            place("+46700000101"), place("+46700000102"), return_exceptions=True
        )
        first_answer.set()
    assert isinstance(first, ElksCallOutcomeUnknownError)
    assert isinstance(second, Call)
    assert len(setup.sim.calls) == 2
