#!/usr/bin/env bash
# Installs the Debian / Raspberry Pi OS packages trust-coach needs, only when some are missing.
# As root it uses apt-get; otherwise it prints one line naming the packages and stops.
set -euo pipefail

# libatomic1: Vosk's library links it (present on a desktop, missing on a minimal Pi image).
packages=(espeak-ng libespeak-ng1 libportaudio2 libasound2 libatomic1)
for flag in "$@"; do
  case "$flag" in
    # rendering speech fixtures and the benchmark's voices
    --fixtures) packages+=(festival festvox-kallpc16k festvox-us-slt-hts sox) ;;
    # the test suite: strace watches for network calls, systemd-analyze checks the service
    # unit, Chromium renders the breathing page
    --test) packages+=(strace systemd chromium) ;;
    *) echo "system-deps.sh: unknown option $flag (use --fixtures or --test)" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${packages[@]}"; do
  # libasound2 is libasound2t64 on newer releases; either one will do.
  if [ "$pkg" = libasound2 ]; then
    dpkg-query -W -f='${Status}' libasound2 libasound2t64 2>/dev/null | grep -q "install ok installed" && continue
  fi
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# Debian's python3 creates virtual environments only with python3-venv (it brings ensurepip).
if ! "${PYTHON:-python3}" -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "trust-coach needs these system packages (no apt-get here): ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "trust-coach needs these system packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# libasound2 was renamed libasound2t64 on Debian 13 / Ubuntu 24.04; let apt pick what exists.
to_install=()
for pkg in "${missing[@]}"; do
  if [ "$pkg" = libasound2 ] && ! apt-cache show libasound2 >/dev/null 2>&1; then
    pkg=libasound2t64
  fi
  to_install+=("$pkg")
done
apt-get install -y -qq --no-install-recommends "${to_install[@]}" >/dev/null
