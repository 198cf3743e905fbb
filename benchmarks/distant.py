"""46elks in its own process: ``python -m benchmarks.distant``.

The benchmark starts this so that the simulator's own CPU work (its HTTP
server, its webhook client, its call lifecycles) does not share Home
Assistant's event loop: the sections that use it measure the integration,
not the simulator. Numbers starting with ``--short-busy`` are busy after
SHORT_RING; every other number rings until the run ends.
``GET /sim/bench/arrivals?since=N`` returns when (``time.perf_counter()``,
CLOCK_MONOTONIC: the same clock in every process of the machine) each
``POST /a1/calls`` from the N-th request on arrived, and when each
``whenhangup`` POST was started. Prints ``ELKS_SIMULATOR_URL=...`` once it
listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import time

from aiohttp import web

from elks_simulator import Callee, Simulator, WebhookDelivery
from elks_simulator.models import Account, DeliveryKind

RINGS = Callee.no_answer()
SHORT_RING = 0.005  # s, as in bench_elks


class DistantSimulator(Simulator):
    """The simulator with one extra read-only route for the benchmark."""

    def __init__(self, round_trip: float, short_busy: str) -> None:
        """Add the arrivals route to the simulator's own."""
        super().__init__(time_scale=1.0, round_trip=round_trip)
        self._routes.append(
            ("GET", re.compile(r"/sim/bench/arrivals"), self._arrivals, False)
        )
        self._short_busy = short_busy
        self._busy = Callee.busy(after=SHORT_RING)
        self.hangup_sent: dict[str, float] = {}

    def callee_for(self, number: str) -> Callee:
        """Short-busy numbers are busy at once; every other rings for the run."""
        if self._short_busy and number.startswith(self._short_busy):
            return self._busy
        return RINGS

    async def _deliver(
        self,
        url: str,
        form: dict[str, str],
        kind: DeliveryKind,
        call_id: str | None,
    ) -> WebhookDelivery:
        if kind == "whenhangup" and call_id is not None:
            self.hangup_sent.setdefault(call_id, time.perf_counter())
        return await super()._deliver(url, form, kind, call_id)

    async def _arrivals(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        since = int(request.query.get("since", "0"))
        posts = [
            (r.form.get("to"), r.received_at)
            for r in self.requests[since:]
            if r.method == "POST" and r.path.lower() == "/a1/calls" and r.status == 200
        ]
        return web.json_response(
            {
                "count": len(self.requests),
                "arrived": [at for _, at in posts],
                "posts": posts,
                "hangup_sent": self.hangup_sent,
            }
        )


async def run(args: argparse.Namespace) -> None:
    """Serve until SIGTERM."""
    sim = DistantSimulator(args.round_trip, args.short_busy)
    account = sim.add_account(
        username=args.username,
        password=args.password,
        displayname="Home",
        mobilenumber="+46700000000",
        balance=10**12,
    )
    sim.add_number(account, args.caller, capabilities=("voice", "sms"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"ELKS_SIMULATOR_URL={await sim.start()}", flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distant")
    parser.add_argument("--round-trip", type=float, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--caller", required=True)
    parser.add_argument("--short-busy", default="", help="number prefix")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
