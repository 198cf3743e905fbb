"""46elks at a distance, in its own process: ``python -m benchmarks.distant``.

The benchmark starts this so that the simulator's CPU work for 50 requests
at once does not share Home Assistant's event loop: the distance section
then measures the integration, not the simulator. Every number it is asked
to call rings until the run ends. ``GET /sim/bench/arrivals?since=N`` returns
when (``time.perf_counter()``, CLOCK_MONOTONIC: the same clock in every
process of the machine) each ``POST /a1/calls`` from the N-th request on
arrived. Prints ``ELKS_SIMULATOR_URL=...`` once it listens; stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal

from aiohttp import web

from elks_simulator import Callee, Simulator
from elks_simulator.models import Account

RINGS = Callee.no_answer()


class DistantSimulator(Simulator):
    """The simulator with one extra read-only route for the benchmark."""

    def __init__(self, round_trip: float) -> None:
        """Add the arrivals route to the simulator's own."""
        super().__init__(time_scale=1.0, round_trip=round_trip)
        self._routes.append(
            ("GET", re.compile(r"/sim/bench/arrivals"), self._arrivals, False)
        )

    def callee_for(self, number: str) -> Callee:
        """Every number rings for the whole run."""
        return RINGS

    async def _arrivals(
        self,
        request: web.Request,
        account: Account | None,
        params: dict[str, str],
        form: dict[str, str],
    ) -> web.StreamResponse:
        since = int(request.query.get("since", "0"))
        arrived = [
            r.received_at
            for r in self.requests[since:]
            if r.method == "POST" and r.path.lower() == "/a1/calls" and r.status == 200
        ]
        return web.json_response({"count": len(self.requests), "arrived": arrived})


async def run(args: argparse.Namespace) -> None:
    """Serve until SIGTERM."""
    sim = DistantSimulator(args.round_trip)
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
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
