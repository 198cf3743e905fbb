"""Incoming calls: a caller dials one of the account's numbers.

46elks POSTs the number's ``voice_start`` (``direction=incoming``,
``callid``, ``from``, ``to``, ``created``) and runs the action it gets back
with the same action runner as outgoing calls. A ``hangup`` first action
(``reject``/``busy``) ends the call without answering it; any other action
answers it. The caller hangs up ``hang_up_after`` simulated seconds after
the call started (None: they stay until the flow ends). ``whenhangup`` is
delivered when an action set it.

What 46elks reports for a rejected incoming call (its state, and whether
``whenhangup`` comes at all) is not documented: here it is ``busy`` for
``{"hangup": "busy"}``, ``failed`` otherwise, and whenhangup is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import math
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .models import Callee, SimCall, WebhookDelivery

if TYPE_CHECKING:
    from .simulator import Simulator


@dataclass(slots=True)
class IncomingResult:
    """What happened to one incoming call."""

    call: SimCall
    answered: bool
    actions: list[dict[str, Any]]
    recordings: list[WebhookDelivery] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Return the result as the ``/sim/dial_in`` endpoint shows it."""
        return {
            "call": self.call.to_json(),
            "answered": self.answered,
            "actions": self.actions,
            "recordings": [
                {"url": item.url, "wav": item.form.get("wav"), "status": item.status}
                for item in self.recordings
            ],
        }


def new_incoming_call(
    sim: Simulator,
    *,
    from_: str,
    to: str,
    presses: list[tuple[float, str]],
    created: str,
) -> SimCall:
    """Create the call to ``to`` (one of the simulator's numbers); raises KeyError."""
    number = next((n for n in sim.numbers.values() if n.number == to), None)
    if (
        number is None
        or not number.active
        or not number.is_voice
        or not number.voice_start
    ):
        raise KeyError(to)
    call = SimCall(
        id="c" + secrets.token_hex(16),
        account_id=number.account_id,
        from_=from_,
        to=to,
        created=created,
        voice_start=number.voice_start,
        whenhangup=None,
        timeout=60,
        callee=Callee.answer(after=0.0, presses=presses),
        direction="incoming",
    )
    sim.calls[call.id] = call
    return call


def end_incoming_call(sim: Simulator, call: SimCall, clock: float) -> bool:
    """Set state, duration and cost of a finished incoming call; return answered."""
    answered = any("hangup" not in action for action in call.actions)
    if answered:
        call.state = "success"
        call.start = call.created
        call.duration = round(clock)
        call.cost = math.ceil(call.duration / 60) * sim.rate_per_minute
        if (account := sim.accounts.get(call.account_id)) is not None:
            account.balance -= call.cost
    else:
        busy = bool(call.actions) and call.actions[0].get("hangup") == "busy"
        call.state = "busy" if busy else "failed"
    call.ended = True
    return answered


def incoming_result(sim: Simulator, call: SimCall, answered: bool) -> IncomingResult:
    """Collect what happened to ``call``."""
    recordings = [
        item
        for item in sim.deliveries
        if item.kind == "record" and item.call_id == call.id
    ]
    return IncomingResult(call, answered, list(call.actions), recordings)


async def http_dial_in(
    sim: Simulator,
    request: web.Request,
    account: object,
    params: dict[str, str],
    form: dict[str, str],
) -> web.StreamResponse:
    """``POST /sim/dial_in`` with JSON ``{"from", "to", "presses", "hang_up_after"}``."""
    try:
        body = json.loads(request["raw_body"] or b"{}")
        presses = [(float(delay), str(keys)) for delay, keys in body.get("presses", [])]
        hang_up_after = body.get("hang_up_after")
        result = await sim.dial_in(
            from_=str(body["from"]),
            to=str(body["to"]),
            presses=presses,
            hang_up_after=None if hang_up_after is None else float(hang_up_after),
        )
    except (KeyError, TypeError, ValueError) as err:
        return web.Response(status=400, text=f"bad dial-in request: {err!r}")
    return web.json_response(result.to_json())
