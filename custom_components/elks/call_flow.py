"""Call flows that need Home Assistant during the call.

Acknowledgement, keypad menus and PINs run through our webhook: 46elks asks
for the next action (``voice_start``/``next`` URLs) and the answer depends on
what the callee pressed. The plan and the state of each such call are plain
data, stored with the call so that a restart mid-call loses nothing.

Every ``next`` URL we hand out carries the number of the step it answers
(``?step=N``). 46elks re-sends a request whose answer it did not get: the
re-sent request carries the same number, gets the same answer and fires
nothing again. Only the first ``voice_start`` (step 0: ``result=newoutgoing``
for our calls, the number's ``voice_start`` for incoming ones) starts a flow;
a request for an older step changes nothing, so the PIN's tries cannot be
reset and a finished flow stays finished. Both directions run this one
engine: only who asks (the tracker or ``incoming.py``) differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Self

from homeassistant.util.json import JsonObjectType

from .api import connect_action, hangup_action, ivr_action, play_action, with_next
from .models import CallEventType, CallOutcome, CallPlan

# Wrong keys or silence tolerated before the call is ended.
MAX_ATTEMPTS = 3
IVR_TIMEOUT = 10
PIN_TIMEOUT = 15
# 46elks plays sound/dtmf/P as 500 ms of silence.
_LEAD_IN_SOURCE = {"beep": "sound/beep", "pause": "sound/dtmf/PPPP"}
CONFIRMATION = "sound/beep"
# Query parameter of our ``next`` URLs: the step the request answers.
STEP_PARAM = "step"
_MAX_STEP_DIGITS = 6


@dataclass(slots=True)
class FlowState:
    """Where an interactive call is, and what the callee did."""

    stage: Literal["start", "pin", "ack", "menu", "done"] = "start"
    attempts: int = 0
    answered: bool = False
    acknowledged: bool = False
    no_input: bool = False
    # Requests answered so far: the number our next ``next`` URL carries.
    step: int = 0
    # Our answer to the last request, for 46elks re-sending it.
    last_action: dict[str, Any] | None = None
    # Started before steps were numbered: its ``next`` URLs carry none.
    unnumbered: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Return the state as JSON-safe data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Rebuild a stored state, also one stored by an older version."""
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if "step" not in data:
            state.unnumbered = True
            # Its voice_start was answered: a replayed one must not restart it.
            state.step = 0 if state.stage == "start" else 1
        return state


@dataclass(slots=True)
class FlowStep:
    """The answer to one call-flow request, and what happened."""

    action: dict[str, Any]
    events: list[tuple[CallEventType, JsonObjectType]] = field(default_factory=list)


def _lead_in(plan: CallPlan, action: dict[str, Any]) -> dict[str, Any]:
    if plan.lead_in == "none":
        return action
    return with_next(play_action(_LEAD_IN_SOURCE[plan.lead_in]), action)


def inline_voice_start(plan: CallPlan, caller_id: str) -> dict[str, Any]:
    """Return the whole flow of a call that needs nothing from us while it runs."""
    if plan.actions is not None:
        return plan.actions
    if plan.connect is not None:
        return _lead_in(plan, connect_action(plan.connect, caller_id))
    assert plan.audio is not None
    action = play_action(plan.audio)
    for _ in range(plan.repeat - 1):
        action = with_next(play_action(plan.audio), action)
    return _lead_in(plan, action)


def _next_url(hook_url: str, state: FlowState) -> str:
    separator = "&" if "?" in hook_url else "?"
    return f"{hook_url}{separator}{STEP_PARAM}={state.step}"


def _stage_action(plan: CallPlan, state: FlowState, hook_url: str) -> dict[str, Any]:
    assert plan.audio is not None or state.stage == "pin"
    hook_url = _next_url(hook_url, state)
    if state.stage == "pin":
        assert plan.pin is not None
        return with_next(
            ivr_action(
                CONFIRMATION, digits=len(plan.pin), timeout=PIN_TIMEOUT, repeat=2
            ),
            hook_url,
        )
    assert plan.audio is not None
    prompt = with_next(
        ivr_action(
            plan.audio, digits=1, timeout=IVR_TIMEOUT, repeat=max(plan.repeat, 1)
        ),
        hook_url,
    )
    return _lead_in(plan, prompt) if state.attempts == 0 else prompt


def _first_stage(plan: CallPlan) -> Literal["pin", "ack", "menu"]:
    if plan.pin:
        return "pin"
    return "ack" if plan.ack_digit else "menu"


def _hangup(state: FlowState) -> FlowStep:
    state.stage = "done"
    return FlowStep(hangup_action("reject"))


def _requested_step(first: bool, step: str | None, state: FlowState) -> int | None:
    """Return the step a request answers; None when it names none we gave out."""
    if first:
        return 0  # the voice_start URL carries no step
    if step is None:
        return state.step if state.unnumbered else None
    if not step.isdigit() or len(step) > _MAX_STEP_DIGITS:
        return None
    return int(step)


def next_step(
    plan: CallPlan,
    state: FlowState,
    result: str,
    why: str | None,
    *,
    hook_url: str,
    caller_id: str,
    step: str | None = None,
    first: bool | None = None,
) -> FlowStep:
    """Advance an interactive call by what 46elks reports, and say what to do next.

    ``step`` is the step number of the URL the request came to (None for
    the ``voice_start`` URL). ``first``: the request is the call's
    ``voice_start``; by default, when 46elks says ``result=newoutgoing``
    (an incoming call's ``voice_start`` carries no result).
    """
    if first is None:
        first = result == "newoutgoing"
    requested = _requested_step(first, step, state)
    if requested is None or requested < state.step:
        if requested == state.step - 1 and state.last_action is not None:
            # Re-sent by 46elks: the same answer, and nothing fires again.
            return FlowStep(state.last_action)
        # A replayed voice_start or an older step: it changes nothing.
        if state.stage != "done" and state.last_action is not None:
            return FlowStep(state.last_action)
        return FlowStep(hangup_action("reject"))
    # A later step than expected means our state was older (a crash): go on.
    state.step = requested + 1
    answer = _advance(plan, state, (result, why), hook_url, caller_id)
    state.last_action = answer.action
    return answer


def _advance(
    plan: CallPlan,
    state: FlowState,
    heard: tuple[str, str | None],
    hook_url: str,
    caller_id: str,
) -> FlowStep:
    """Move the flow on by what 46elks heard: its ``result`` and ``why``."""
    result, why = heard
    if state.stage == "start":
        state.answered = True
        state.stage = _first_stage(plan)
        state.attempts = 0
        return FlowStep(
            _stage_action(plan, state, hook_url), [(CallEventType.ANSWERED, {})]
        )
    if state.stage == "done":
        return _hangup(state)

    pressed = result if result.replace("#", "").replace("*", "").isdigit() else None
    if pressed is None and why == "noinput":
        state.no_input = True

    if state.stage == "pin":
        assert plan.pin is not None
        if pressed == plan.pin:
            state.stage = "ack" if plan.ack_digit else "menu"
            state.attempts = 0
            return FlowStep(_stage_action(plan, state, hook_url))
        return _retry(plan, state, hook_url)

    if state.stage == "ack":
        if pressed == plan.ack_digit:
            state.acknowledged = True
            state.stage = "done"
            return FlowStep(
                play_action(CONFIRMATION),
                [(CallEventType.ACKNOWLEDGED, {"digits": pressed})],
            )
        return _retry(plan, state, hook_url)

    return _menu_choice(plan, state, pressed, hook_url, caller_id)


def _menu_choice(
    plan: CallPlan, state: FlowState, pressed: str | None, hook_url: str, caller_id: str
) -> FlowStep:
    assert plan.menu is not None
    if pressed is not None and (item := plan.menu.get(pressed)) is not None:
        state.stage = "done"
        event: tuple[CallEventType, JsonObjectType] = (
            CallEventType.KEYPRESS,
            {"digits": pressed, "label": item.label},
        )
        if item.connect:
            return FlowStep(connect_action(item.connect, caller_id), [event])
        return FlowStep(play_action(CONFIRMATION), [event])
    return _retry(plan, state, hook_url)


def _retry(plan: CallPlan, state: FlowState, hook_url: str) -> FlowStep:
    state.attempts += 1
    if state.attempts >= MAX_ATTEMPTS:
        # Silence or wrong keys to the end: no valid input, and we hung up.
        state.no_input = True
        return _hangup(state)
    return FlowStep(_stage_action(plan, state, hook_url))


def call_outcome(
    state_name: str, answered: bool, flow: FlowState | None, plan: CallPlan | None
) -> CallOutcome:
    """Say how a call ended, in the words escalation and events use.

    ``no_input``: answered, never pressed the right key; ``hung_up``:
    answered, left before acknowledging.
    """
    if flow is not None and flow.acknowledged:
        return CallOutcome.ACKNOWLEDGED
    if state_name == "busy":
        return CallOutcome.BUSY
    if not answered and not (flow and flow.answered):
        return CallOutcome.NO_ANSWER if state_name == "failed" else CallOutcome.ANSWERED
    if plan is not None and plan.ack_digit:
        if flow is not None and flow.no_input:
            return CallOutcome.NO_INPUT
        return CallOutcome.HUNG_UP
    return CallOutcome.ANSWERED
