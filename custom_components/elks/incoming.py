"""Calls to the account's numbers: what 46elks does with them, and the events.

46elks POSTs a number's ``voice_start`` (our webhook, route
``incoming_call``, ``number=<id>``) for every call to it and runs the JSON
action it gets back. Each call is decided once, by its call id: 46elks
re-sending the request gets the same answer and fires nothing again.
Keypad menus and PINs run on the one call-flow engine (``call_flow.py``)
that outgoing calls use; their ``next`` requests come back here with
``step=N``, and ``whenhangup`` (set on every answer) ends the call.

Calls are kept in memory only: after a restart an unfinished call's next
request is answered with a hangup, so a PIN can never be skipped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, Self

from aiohttp import web
import probatio

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.json import JsonObjectType

from .api import (
    Call,
    ElksError,
    ElksResponseError,
    amount,
    connect_action,
    hangup_action,
    parse_timestamp,
    play_action,
    with_next,
)
from .audio import tts_url
from .call_flow import CONFIRMATION, STEP_PARAM, FlowState, next_step
from .const import (
    CONF_LANGUAGE,
    CONF_NUMBER_ID,
    CONF_RECIPIENT_NUMBER,
    CONF_TTS_ENGINE,
    DOMAIN,
    EVENT_INCOMING_CALL,
    EVENT_KEYPRESS,
    EVENT_RECORDING_SAVED,
    LOGGER,
    SUBENTRY_INCOMING_CALL,
    signal_incoming_event,
)
from .incoming_settings import IncomingSettings
from .models import (
    AccountContext,
    CallEventType,
    CallPlan,
    IncomingAction,
    IncomingEventType,
    NoAnswerAction,
    NumberClaim,
    NumberField,
    WebhookRoute,
    iso_timestamp,
)
from .numbers import NumberBindings
from .recordings import (
    MAX_RECORDING_BYTES,
    async_save_recording,
    async_setup_recordings,
    is_wav,
)
from .storage import PromptSave, StoreKind, stored_items
from .webhook import HANGUP_SCHEMA as CALL_HANGUP_SCHEMA, ElksWebhook, clip

# Query parameter naming the 46elks number a request is for.
NUMBER_PARAM = "number"
CALLS_KEPT = 500
RECORD_SECONDS = 120
_CALL_ID = probatio.All(str, probatio.Match(r"^[a-zA-Z0-9]{1,64}\Z"))
_PHONE_NUMBER = probatio.All(str, probatio.Match(r"^\+[1-9][0-9]{1,14}\Z"))
# What 46elks sends for a hidden caller ID is not documented: a short word
# is let through (and is never on an allow-list).
_CALLER = probatio.All(str, probatio.Match(r"^\+?[0-9A-Za-z]{1,32}\Z"))


def _timestamp(value: Any) -> str:
    if not isinstance(value, str) or parse_timestamp(value) is None:
        raise probatio.Invalid("not a timestamp")
    return value


VOICE_START_SCHEMA = probatio.Schema(
    {
        probatio.Required("direction"): "incoming",
        probatio.Required("callid"): _CALL_ID,
        probatio.Required("from"): _CALLER,
        probatio.Required("to"): _PHONE_NUMBER,
        probatio.Required("created"): _timestamp,
    },
    extra=probatio.REMOVE_EXTRA,
)
NEXT_SCHEMA = probatio.Schema(
    {
        probatio.Required("callid"): _CALL_ID,
        probatio.Required("result"): probatio.Match(r"^[0-9a-z*#]{0,32}\Z"),
        probatio.Optional("why"): probatio.Match(r"^[a-z]{1,32}\Z"),
        probatio.Optional("direction"): "incoming",
        probatio.Optional("from"): _CALLER,
        probatio.Optional("to"): _PHONE_NUMBER,
    },
    extra=probatio.REMOVE_EXTRA,
)
# An incoming call's hangup: as ours, but its caller may be a hidden number.
HANGUP_SCHEMA = CALL_HANGUP_SCHEMA.extend(
    {probatio.Required("from"): _CALLER, probatio.Required("direction"): "incoming"}
)
RECORDING_SCHEMA = probatio.Schema(
    {
        probatio.Required("callid"): _CALL_ID,
        probatio.Required("wav"): probatio.All(str, probatio.Length(min=1, max=2000)),
        probatio.Required("created"): _timestamp,
        probatio.Optional("duration"): probatio.Match(r"^[0-9]{1,6}\Z"),
        probatio.Optional("from"): _CALLER,
        probatio.Optional("to"): _PHONE_NUMBER,
    },
    extra=probatio.REMOVE_EXTRA,
)
_REJECTING = (IncomingAction.REJECT, IncomingAction.BUSY)
_FLOW_EVENTS = {
    CallEventType.ANSWERED: IncomingEventType.ANSWERED,
    CallEventType.KEYPRESS: IncomingEventType.KEYPRESS,
}


@dataclass(slots=True)
class IncomingCall:
    """One call to one of our numbers, as decided when it rang."""

    call_id: str
    subentry_id: str
    caller: str
    to: str
    created: str
    allowed: bool
    action: IncomingAction
    answer: dict[str, Any]
    plan: CallPlan | None = None
    flow: FlowState | None = None
    ended: bool = False
    # Its recording was saved (46elks may send it again).
    recorded: bool = False

    def data(self) -> JsonObjectType:
        """Return the call as events show it."""
        return {
            "call_id": self.call_id,
            "from": self.caller,
            "to": self.to,
            "direction": "incoming",
            "created": iso_timestamp(self.created),
            "allowed": self.allowed,
            "action": self.action,
        }

    def as_stored(self) -> JsonObjectType:
        """Return the call as stored across a restart."""
        stored: JsonObjectType = asdict(self)
        stored["plan"] = self.plan.as_dict() if self.plan else None
        stored["flow"] = self.flow.as_dict() if self.flow else None
        return stored

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Self:
        """Rebuild a stored call; raises TypeError or ValueError when unreadable."""
        plan, flow = data.pop("plan", None), data.pop("flow", None)
        call = cls(**data)
        call.action = IncomingAction(call.action)
        call.plan = CallPlan.from_dict(plan) if isinstance(plan, dict) else None
        call.flow = FlowState.from_dict(flow) if isinstance(flow, dict) else None
        return call


def _reply(action: Mapping[str, Any]) -> web.Response:
    return web.json_response(dict(action), status=HTTPStatus.OK)


class IncomingCalls:
    """Answers calls to the account's numbers configured in subentries."""

    def __init__(
        self, account: AccountContext, url_for: Callable[..., str | None]
    ) -> None:
        """Serve the account's incoming-call subentries (read live on each call)."""
        self._account = account
        self._url_for = url_for
        self._calls: OrderedDict[str, IncomingCall] = OrderedDict()
        # Stored, so that a call under way goes on after a restart: its
        # menu where it was, its end and its recording still reported.
        self._saver = PromptSave(
            account.hass,
            account.entry.entry_id,
            StoreKind.INCOMING_CALLS,
            lambda: {"calls": [call.as_stored() for call in self._calls.values()]},
        )
        # Recordings being fetched: 46elks may send one again meanwhile.
        self._fetching: set[str] = set()

    async def async_load(self) -> None:
        """Read the calls under way (and recently ended) before a restart."""
        data = await self._saver.async_load()
        # As written (bounded, oldest first): nothing to save again.
        for call in stored_items(data, "calls", IncomingCall.from_stored):
            self._calls[call.call_id] = call
        self._account.entry.async_on_unload(self._saver.async_save)

    @callback
    def async_setup(self, webhook: ElksWebhook, numbers: NumberBindings) -> None:
        """Take the incoming-call route, and claim each configured number."""
        self._account.entry.async_on_unload(
            webhook.async_add_route(WebhookRoute.INCOMING_CALL, self.async_handle)
        )
        self._account.entry.async_on_unload(numbers.async_add_claims(self._claims))
        self._account.entry.async_on_unload(
            webhook.async_add_route(WebhookRoute.RECORDING, self.async_recording)
        )
        async_setup_recordings(self._account.hass)

    def _claims(self) -> list[NumberClaim]:
        """Each incoming-calls subentry wants its number's calls (read live)."""
        return [
            NumberClaim(
                subentry.subentry_id,
                str(subentry.data[CONF_NUMBER_ID]),
                str(subentry.data[CONF_RECIPIENT_NUMBER]),
                NumberField.VOICE_START,
                self._url_for(
                    WebhookRoute.INCOMING_CALL, number=subentry.data[CONF_NUMBER_ID]
                ),
            )
            for subentry in self._account.entry.subentries.values()
            if subentry.subentry_type == SUBENTRY_INCOMING_CALL
        ]

    @property
    def diagnostics(self) -> dict[str, Any]:
        """Counts only: no numbers, no call ids."""
        actions: dict[str, int] = {}
        for call in self._calls.values():
            actions[call.action] = actions.get(call.action, 0) + 1
        return {
            "numbers": len(self._claims()),
            "calls_remembered": len(self._calls),
            "calls_by_action": actions,
            "recordings": sum(call.recorded for call in self._calls.values()),
        }

    def _subentry_for(
        self, number_id: str | None
    ) -> tuple[str, IncomingSettings] | None:
        for subentry in self._account.entry.subentries.values():
            if (
                subentry.subentry_type == SUBENTRY_INCOMING_CALL
                and subentry.data.get(CONF_NUMBER_ID) == number_id
            ):
                return subentry.subentry_id, IncomingSettings.from_data(subentry.data)
        return None

    async def async_handle(
        self, form: dict[str, str], query: Mapping[str, str]
    ) -> web.Response:
        """Answer one request of an incoming call (route ``incoming_call``)."""
        found = self._subentry_for(query.get(NUMBER_PARAM))
        if found is None:
            # Not (or no longer) one of our numbers: never answer for it.
            LOGGER.warning(
                "Refused an incoming call for number %r: no incoming-calls setup",
                clip(query.get(NUMBER_PARAM, "")),
            )
            return _reply(hangup_action("reject"))
        subentry_id, settings = found
        try:
            if "id" in form:
                return self._hangup(subentry_id, settings, form)
            if STEP_PARAM in query:
                return self._next(subentry_id, settings, form, query[STEP_PARAM])
            return self._ringing(subentry_id, settings, VOICE_START_SCHEMA(form))
        except (probatio.Invalid, ElksResponseError) as err:
            LOGGER.warning(
                "Refused an invalid incoming-call request for call %r: %s",
                clip(form.get("callid") or form.get("id") or ""),
                err,
            )
            return _reply(hangup_action("reject"))

    def _hook_url(self, settings: IncomingSettings) -> str | None:
        return self._url_for(WebhookRoute.INCOMING_CALL, number=settings.number_id)

    def _ringing(
        self, subentry_id: str, settings: IncomingSettings, form: dict[str, str]
    ) -> web.Response:
        """Decide a new call once; a re-sent ``voice_start`` gets the same answer."""
        if form["to"] != settings.number:
            raise probatio.Invalid("not this number's call")
        if (known := self._calls.get(form["callid"])) is not None:
            if known.flow is not None and known.flow.last_action is not None:
                return _reply(known.flow.last_action)
            return _reply(known.answer)
        allowed = settings.is_allowed(form["from"])
        action = settings.allowed_action if allowed else settings.unknown_action
        call = IncomingCall(
            form["callid"],
            subentry_id,
            form["from"],
            form["to"],
            form["created"],
            allowed,
            action,
            {},
        )
        self._remember(call)
        self._fire(call, IncomingEventType.RINGING, {})
        self._account.hass.bus.async_fire(EVENT_INCOMING_CALL, self._event_data(call))
        call.answer = self._first_answer(call, settings)
        if call.action in _REJECTING or call.answer.get("hangup"):
            self._fire(call, IncomingEventType.REJECTED, {})
        elif call.action is IncomingAction.MESSAGE:
            self._fire(call, IncomingEventType.ANSWERED, {})
        return _reply(call.answer)

    def _first_answer(
        self, call: IncomingCall, settings: IncomingSettings
    ) -> dict[str, Any]:
        hook = self._hook_url(settings)
        hangup = {"whenhangup": hook} if hook else {}
        if call.action is IncomingAction.BUSY:
            return {**hangup_action("busy"), **hangup}
        if call.action is IncomingAction.FORWARD:
            return {**self._forward(settings), **hangup}
        if call.action is IncomingAction.MESSAGE:
            if (audio := self._speech(settings.unknown_message)) is not None:
                return {**play_action(audio), **hangup}
        if call.action is IncomingAction.MENU and hook is not None:
            return self._start_menu(call, settings, hook)
        # Reject, and anything that cannot be carried out.
        return {**hangup_action("reject"), **hangup}

    def _start_menu(
        self, call: IncomingCall, settings: IncomingSettings, hook: str
    ) -> dict[str, Any]:
        call.plan = CallPlan(
            audio=self._speech(settings.greeting) or CONFIRMATION,
            menu=dict(settings.menu),
            pin=settings.pin,
        )
        call.flow = FlowState()
        step = next_step(
            call.plan,
            call.flow,
            "",
            None,
            hook_url=hook,
            caller_id=settings.number,
            first=True,
        )
        return self._flow_answer(call, step.action, step.events, hook)

    def _flow_answer(
        self,
        call: IncomingCall,
        action: dict[str, Any],
        events: list[tuple[CallEventType, JsonObjectType]],
        hook: str,
    ) -> dict[str, Any]:
        answer = {**action, "whenhangup": hook}
        assert call.flow is not None
        call.flow.last_action = answer
        self._saver.schedule()
        for kind, data in events:
            if (mapped := _FLOW_EVENTS.get(kind)) is None:
                continue
            self._fire(call, mapped, data)
            if mapped is IncomingEventType.KEYPRESS:
                self._account.hass.bus.async_fire(
                    EVENT_KEYPRESS, {**self._event_data(call), **data}
                )
        return answer

    def _forward(self, settings: IncomingSettings) -> dict[str, Any]:
        """Ring every forward target at once; a fallback when nobody answers."""
        fallback: dict[str, Any]
        if settings.no_answer is NoAnswerAction.RECORD and (
            url := self._url_for(WebhookRoute.RECORDING, number=settings.number_id)
        ):
            record = {"record": url, "timelimit": RECORD_SECONDS}
            prompt = self._speech(settings.no_answer_message)
            fallback = with_next(play_action(prompt or CONFIRMATION), record)
        elif (audio := self._speech(settings.no_answer_message)) is not None:
            fallback = play_action(audio)
        else:
            fallback = hangup_action("reject")
        # No caller ID: 46elks shows its default (the caller, per its docs).
        action = connect_action(",".join(settings.forward_to))
        return {**action, "busy": fallback, "failed": fallback}

    def _speech(self, message: str) -> str | None:
        """Return a public URL speaking ``message``; None when that cannot be made."""
        if not message:
            return None
        options = self._account.entry.options
        try:
            base = get_url(
                self._account.hass, allow_internal=False, prefer_external=True
            )
            return tts_url(
                self._account.hass,
                base,
                message,
                engine=options.get(CONF_TTS_ENGINE),
                language=options.get(CONF_LANGUAGE),
                options=None,
            )
        except (HomeAssistantError, NoURLAvailableError) as err:
            LOGGER.warning("Cannot speak to an incoming caller: %s", err)
            return None

    def _next(
        self,
        subentry_id: str,
        settings: IncomingSettings,
        form: dict[str, str],
        step: str,
    ) -> web.Response:
        """Move a menu call on by what the caller pressed."""
        form = NEXT_SCHEMA(form)
        call = self._calls.get(form["callid"])
        hook = self._hook_url(settings)
        if (
            call is None
            or call.subentry_id != subentry_id
            or call.plan is None
            or call.flow is None
            or hook is None
        ):
            return _reply(hangup_action("reject"))
        answered = call.flow.step
        answer = next_step(
            call.plan,
            call.flow,
            form["result"],
            form.get("why"),
            hook_url=hook,
            caller_id=settings.number,
            step=step,
        )
        if call.flow.step == answered:
            # Re-sent or out of date: the engine's answer, and nothing fires.
            return _reply(answer.action)
        return _reply(self._flow_answer(call, answer.action, answer.events, hook))

    def _hangup(
        self, subentry_id: str, settings: IncomingSettings, form: dict[str, str]
    ) -> web.Response:
        """Report an incoming call's end once."""
        ended = Call.from_json(HANGUP_SCHEMA(form))
        if ended.to != settings.number:
            raise probatio.Invalid("not this number's call")
        call = self._calls.get(ended.id)
        if call is None or call.subentry_id != subentry_id or call.ended:
            LOGGER.debug("Hangup of incoming call %r: unknown or repeated", ended.id)
            return web.Response(status=HTTPStatus.OK)
        call.ended = True
        self._saver.schedule()
        self._fire(
            call,
            IncomingEventType.ENDED,
            {
                "state": ended.state,
                "answered": ended.answered,
                "duration": ended.duration or 0,
                "cost": amount(ended.cost),
            },
        )
        return web.Response(status=HTTPStatus.OK)

    async def async_recording(
        self, form: dict[str, str], query: Mapping[str, str]
    ) -> web.Response:
        """Save a caller's recording once, fetched from 46elks' own host only."""
        found = self._subentry_for(query.get(NUMBER_PARAM))
        try:
            form = RECORDING_SCHEMA(form)
        except probatio.Invalid as err:
            LOGGER.warning("Ignored an invalid 46elks recording: %s", err)
            return web.Response(status=HTTPStatus.OK)
        call = self._calls.get(form["callid"])
        if found is None or call is None or call.subentry_id != found[0]:
            LOGGER.warning("Ignored a recording of unknown call %r", form["callid"])
            return web.Response(status=HTTPStatus.OK)
        if call.recorded or call.call_id in self._fetching:
            return web.Response(status=HTTPStatus.OK)
        self._fetching.add(call.call_id)
        try:
            audio = await self._async_fetch_recording(call, form["wav"])
            if audio is None:
                return web.Response(status=HTTPStatus.OK)
            media_id = await async_save_recording(
                self._account.hass,
                self._account.entry.entry_id,
                call.call_id,
                form["created"],
                audio,
            )
        finally:
            self._fetching.discard(call.call_id)
        call.recorded = True
        self._saver.schedule()
        data: JsonObjectType = {
            "media_content_id": media_id,
            "duration": int(form.get("duration") or 0),
        }
        self._fire(call, IncomingEventType.RECORDED, data)
        self._account.hass.bus.async_fire(
            EVENT_RECORDING_SAVED, {**self._event_data(call), **data}
        )
        return web.Response(status=HTTPStatus.OK)

    async def _async_fetch_recording(
        self, call: IncomingCall, url: str
    ) -> bytes | None:
        """Return a call's recording from 46elks, or None (logged) when there is none."""
        client = self._account.client
        if not client.is_own_url(url):
            # Never fetch a URL anybody could have put there (SSRF).
            LOGGER.warning(
                "Ignored the recording of call %r: %r is not on 46elks' API host",
                call.call_id,
                clip(url),
            )
            return None
        try:
            audio = await client.download(url, MAX_RECORDING_BYTES)
        except ElksError as err:
            LOGGER.warning(
                "Cannot fetch the recording of call %r: %s", call.call_id, err
            )
            return None
        if not is_wav(audio):
            LOGGER.warning("The recording of call %r is not a WAV file", call.call_id)
            return None
        return audio

    def _remember(self, call: IncomingCall) -> None:
        self._calls[call.call_id] = call
        while len(self._calls) > CALLS_KEPT:
            self._calls.popitem(last=False)
        self._saver.schedule()

    def device_id(self, subentry_id: str) -> str | None:
        """Return the registry id of an incoming number's device."""
        device = dr.async_get(self._account.hass).async_get_device_by_identifier(
            (DOMAIN, subentry_id), self._account.entry.entry_id
        )
        return device.id if device else None

    def _event_data(self, call: IncomingCall) -> JsonObjectType:
        return {
            "config_entry_id": self._account.entry.entry_id,
            "device_id": self.device_id(call.subentry_id),
            **call.data(),
        }

    @callback
    def _fire(
        self, call: IncomingCall, kind: IncomingEventType, extra: JsonObjectType
    ) -> None:
        async_dispatcher_send(
            self._account.hass,
            signal_incoming_event(self._account.entry.entry_id),
            call.subentry_id,
            kind,
            {**self._event_data(call), **extra},
        )
