"""Placing calls for one account: one call, many at once, or an escalation.

Every call goes out here, with exactly one ``POST /calls`` that is never
retried, and is registered with the tracker before and after, so that its
hangup is recognised whatever happens to the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
import time

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.json import json_dumps

from .api import Call, ElksError
from .audio import (
    DATA_CLIPS,
    async_media_source_url,
    public_base_url,
    render_message,
    tts_url,
)
from .call_flow import inline_voice_start
from .const import LOGGER
from .errors import translated
from .escalation import EscalationManager, Outreach, TextRecipients
from .models import (
    AccountContext,
    CallOutcome,
    CallPlan,
    CallRequest,
    CallResult,
    Dialing,
    FailureCode,
    PlacedCall,
    Placement,
    PlacementFailure,
    Speech,
)
from .signals import CallSignals
from .tracker import CallTracker, PlacementAttempt


def invalid(translation_key: str, **placeholders: str) -> ServiceValidationError:
    """Return the translated error for a request that cannot be carried out."""
    return translated(ServiceValidationError, translation_key, **placeholders)


class Dialer:
    """Places the calls of one account."""

    def __init__(
        self,
        account: AccountContext,
        tracker: CallTracker,
        signals: CallSignals,
        hangup_url: Callable[[], str | None],
        text: TextRecipients,
    ) -> None:
        """Place through the account's client, registering calls with ``tracker``.

        ``text`` sends the SMS of escalations that text.
        """
        self._account = account
        self._tracker = tracker
        self._hangup_url = hangup_url
        self._signals = signals
        self.escalations = EscalationManager(
            account, signals, Outreach(self.async_place, tracker.async_outcome, text)
        )

    async def async_call(self, request: CallRequest) -> CallResult:
        """Carry out a request: everybody at once, or one after another.

        Raises a translated error when nobody could be called.
        """
        hook_url = self._hangup_url()
        if hook_url is None and request.needs_webhook:
            raise invalid("needs_webhook")
        dialing = Dialing(request, hook_url, *await self._async_audio(request))
        if request.sequential:
            return await self._async_escalate(dialing)
        return await self._async_fan_out(dialing)

    async def _async_fan_out(self, dialing: Dialing) -> CallResult:
        """Call every recipient at once; with ``wait``, until every call ended."""
        placed: list[Call] = []
        try:
            return await self._async_fan_out_calls(dialing, placed)
        finally:
            if dialing.release is not None:
                self._release_when_ended(
                    dialing.release, placed, dialing.request.timeout
                )

    async def _async_fan_out_calls(
        self, dialing: Dialing, placed: list[Call]
    ) -> CallResult:
        """Place the calls (adding each to ``placed``) and build the result."""
        request = dialing.request
        with self._signals.placements():
            results = await asyncio.gather(
                *(self.async_place(dialing, to) for to in request.recipients)
            )
        placed.extend(result for result in results if isinstance(result, Call))
        failures = [r for r in results if isinstance(r, PlacementFailure)]
        for failure in failures:
            failure.log()
        if not placed:
            raise _all_failed(failures)
        calls = [PlacedCall(call) for call in placed]
        if request.wait:
            outcomes = await asyncio.gather(
                *(self._tracker.async_outcome(c.id, request.timeout) for c in placed)
            )
            calls = [
                PlacedCall(
                    call,
                    outcome,
                    outcome is CallOutcome.ACKNOWLEDGED
                    if request.plan.ack_digit
                    else None,
                )
                for call, outcome in zip(placed, outcomes, strict=True)
            ]
        return CallResult(request.wait, tuple(calls), tuple(failures))

    async def _async_escalate(self, dialing: Dialing) -> CallResult:
        """Start an escalation; return at its first call, or with ``wait`` at its end."""
        escalation = self.escalations.start(dialing)
        if dialing.request.wait:
            await self.escalations.async_wait(escalation.id)
            return CallResult(True, escalation=escalation)
        first = await self.escalations.async_first_call(escalation.id)
        return CallResult(False, escalation=escalation, first_call=first)

    async def _async_audio(
        self, request: CallRequest
    ) -> tuple[Callable[[], str] | None, Callable[[], None] | None]:
        """Return what makes each call's audio URL, and what releases the audio.

        Both None without audio; the release is None when nothing is kept.
        """
        if request.speech is not None:
            return self._spoken(request.speech)
        if request.play is None:
            return None, None
        source = request.play
        if source.startswith("media-source://"):
            base = public_base_url(
                self._account.hass,
                self._account.entry.entry_id,
                self._account.entry.title,
            )
            source = await async_media_source_url(self._account.hass, base, source)
        return lambda: source, None

    def _spoken(
        self, speech: Speech
    ) -> tuple[Callable[[], str], Callable[[], None] | None]:
        """Render a message once for every call of the action or escalation.

        Rendered now, so that a TTS problem fails the action before anybody
        is called.
        """
        base = public_base_url(
            self._account.hass, self._account.entry.entry_id, self._account.entry.title
        )
        stream = render_message(
            self._account.hass,
            speech.message,
            engine=speech.engine,
            language=speech.language,
            options=speech.options,
        )
        clips = self._account.hass.data[DATA_CLIPS]
        if (path := clips.add(stream, stream.extension)) is not None:
            url = base.rstrip("/") + path
            return lambda: url, lambda: clips.release(path)
        LOGGER.warning("Too many spoken messages at once: each call renders its own")
        ready = [base.rstrip("/") + stream.url]
        return lambda: ready.pop() if ready else self._speak(base, speech), None

    def _speak(self, base: str, speech: Speech) -> str:
        return tts_url(
            self._account.hass,
            base,
            speech.message,
            engine=speech.engine,
            language=speech.language,
            options=speech.options,
        )

    @callback
    def _release_when_ended(
        self, release: Callable[[], None], placed: list[Call], timeout: int
    ) -> None:
        """Release the audio once every call placed with it ended (bounded)."""
        if not placed:
            release()
            return

        async def wait_then_release() -> None:
            try:
                await asyncio.gather(
                    *(self._tracker.async_outcome(c.id, timeout) for c in placed)
                )
            finally:
                release()

        self._account.entry.async_create_background_task(
            self._account.hass, wait_then_release(), "elks audio release"
        )

    @staticmethod
    def _voice_start(dialing: Dialing) -> tuple[CallPlan, str]:
        """Return the plan of one call and its ``voice_start`` as sent.

        Made once per audio URL of an action, not once per call: every call
        of a fan-out or escalation plays the same audio.
        """
        audio = dialing.audio() if dialing.audio else None
        if (made := dialing.voice_starts.get(audio)) is not None:
            return made
        request = dialing.request
        plan = replace(request.plan, audio=audio) if audio else request.plan
        if plan.interactive:
            assert dialing.hook_url is not None
            voice_start = dialing.hook_url
        else:
            voice_start = json_dumps(inline_voice_start(plan, request.caller_id))
        dialing.voice_starts[audio] = made = (plan, voice_start)
        return made

    async def async_place(self, dialing: Dialing, to: str) -> Placement:
        """Place one call with exactly one ``POST /calls``; never retried.

        Interactive plans need a hangup URL: 46elks asks it for each next step.
        """
        request = dialing.request
        plan, voice_start = self._voice_start(dialing)
        attempt = PlacementAttempt(to, request.caller_id, time.time(), request.timeout)
        self._tracker.placement_started()
        try:
            placed = await self._account.client.place_call(
                from_number=request.caller_id,
                to=to,
                voice_start=voice_start,
                whenhangup=dialing.hook_url,
                timeout=request.timeout,
            )
        except ElksError as err:
            return self._failed(attempt, err)
        except BaseException as err:
            # Cancelled (script stopped, automation restarted, shutdown) or a
            # bug: the POST may have reached 46elks, so its hangup must still
            # be recognised, and the placement must not count as under way.
            self._tracker.placement_failed(attempt, may_exist=True)
            LOGGER.warning(
                "Placing the call to %r was interrupted (%s); 46elks may have placed it",
                to,
                type(err).__name__,
            )
            raise
        self._tracker.placement_succeeded(placed, plan)
        return placed

    def _failed(self, attempt: PlacementAttempt, err: ElksError) -> PlacementFailure:
        failure = PlacementFailure.from_error(attempt.to, err)
        self._tracker.placement_failed(attempt, may_exist=failure.may_exist)
        if failure.code is FailureCode.AUTH_FAILED:
            self._account.entry.async_start_reauth(self._account.hass)
        return failure


def _all_failed(failures: list[PlacementFailure]) -> HomeAssistantError:
    """Return the translated error when nobody could be called."""
    if len(failures) == 1:
        failure = failures[0]
        return translated(
            HomeAssistantError,
            f"call_{failure.code}",
            to=failure.to,
            message=failure.message,
        )
    # Each failure's reason is in the response and the log; the error names
    # the numbers only (the reasons are English or 46elks' own words).
    return translated(
        HomeAssistantError,
        "no_call_placed",
        numbers=", ".join(f.to for f in failures),
    )
