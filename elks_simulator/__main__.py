"""Command line entry point: ``python -m elks_simulator``."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .simulator import Simulator


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the CLI."""
    parser = argparse.ArgumentParser(
        prog="python -m elks_simulator",
        description="Run a local simulator of the 46elks voice API.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8046,
        help="port to bind, 0 = any free port (default 8046)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every simulated duration by this (default 1.0 = real time)",
    )
    parser.add_argument(
        "--round-trip",
        type=float,
        default=0.0,
        help="seconds of network round trip to add to every request (default 0)",
    )
    parser.add_argument(
        "--no-seed", action="store_true", help="do not create the demo account"
    )
    return parser


async def run(args: argparse.Namespace) -> None:
    """Start the simulator and serve until SIGINT/SIGTERM."""
    sim = Simulator(time_scale=args.time_scale, round_trip=args.round_trip)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    base_url = await sim.start(host=args.host, port=args.port)
    print(f"46elks simulator listening: {base_url}")
    if not args.no_seed:
        demo = sim.seed_demo()
        print(
            f"Demo credentials: username={demo.account.username} password={demo.account.password}"
        )
        print(
            f"Demo account id: {demo.account.id} mobilenumber={demo.account.mobilenumber}"
        )
        print(f"Voice number: {demo.voice_number.number}")
        print(f"SMS-only number: {demo.sms_number.number}")
        print(f"Inactive voice number: {demo.inactive_number.number}")
        for number, description in demo.callees.items():
            print(f"Callee {number}: {description}")
    print(f"ELKS_SIMULATOR_URL={base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sim.stop()
    print("46elks simulator stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = build_parser().parse_args(argv)
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
