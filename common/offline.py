"""Nothing of this program leaves the machine, including what its libraries would send.

onnxruntime (the sentence model, and Piper's voice) collects usage events on Linux and macOS
since 1.32, keeps a device id under ~/.cache/Microsoft and uploads them to Microsoft unless
ORT_DISABLE_TELEMETRY=1 is set before it starts. The Hugging Face libraries look for updates
online unless told they are offline. These are set for the whole process, whatever the
environment says, before any of those libraries is imported.
"""

from __future__ import annotations

import os

OFFLINE_ENVIRONMENT = {
    "ORT_DISABLE_TELEMETRY": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def stay_offline() -> None:
    os.environ.update(OFFLINE_ENVIRONMENT)
