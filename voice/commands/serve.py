"""`trust-coach serve`: the coach as a Wyoming "handle" service for Home Assistant.

It listens until Ctrl-C or SIGTERM (systemd stopping it); then the connections are closed and
the socket let go. See voice/wyoming_service.py for the protocol side.
"""

from __future__ import annotations

import asyncio
import signal

from common.errors import EXIT_OK
from voice import wiring
from voice.settings import Settings
from voice.wyoming_service import DEFAULT_URI, Address, CoachService, parse_uri, serve


def run(settings: Settings, uri: str | None = None) -> int:
    address = parse_uri(uri or DEFAULT_URI)  # a bad --uri is said before anything is loaded
    content = wiring.library(settings)
    wiring.check_region(settings, content)
    # The heavy part, built once and shared by every conversation; ready before listening.
    service = CoachService(content, wiring.matcher(settings, content), settings.region)
    return asyncio.run(_serve(service, address))


async def _serve(service: CoachService, address: Address) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    def ready(bound: Address) -> None:
        wiring.print_line(f"Wyoming handle service listening on {bound} (Ctrl-C to stop)")

    try:
        await serve(service, address, ready=ready, stop=stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    wiring.print_error("stopped")
    return EXIT_OK
