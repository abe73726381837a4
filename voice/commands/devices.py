"""`trust-coach devices`: the audio devices PortAudio sees."""

from __future__ import annotations

from common.errors import EXIT_OK


def run() -> int:
    from voice.devices import list_devices

    devices = list_devices()
    if not devices:
        print("no audio devices found")
    for d in devices:
        marks = ("<" if d.is_default_input else " ") + (">" if d.is_default_output else " ")
        print(f"{marks} {d.index:2d} {d.name} ({d.inputs} in, {d.outputs} out, "
              f"{d.default_rate:.0f} Hz)")
    return EXIT_OK
