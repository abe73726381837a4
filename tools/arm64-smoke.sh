#!/usr/bin/env bash
# Runs a smoke subset of the test suite on 64-bit ARM, emulated: a minimal Debian bookworm arm64
# root (the userland of Raspberry Pi OS 64-bit: Python 3.11, glibc 2.36) run by qemu-user through
# binfmt_misc on this x86_64 machine. It catches what a Pi would: an aarch64 wheel that is missing,
# or that needs a system library the image lacks, or that misbehaves on ARM.
#
#   tools/arm64-smoke.sh [DIR]      (as root; DIR defaults to /var/tmp/trust-coach-arm64)
#
# Idempotent: the root and the wheels in DIR are reused while their inputs (the package list,
# the requirements) are unchanged. Settings from the environment:
#   SMOKE_TESTS        pytest arguments (default: a quick selection, see below)
#   SMOKE_EXTRA        more requirements to install and import besides pyproject's dependencies
#   SMOKE_TIMEOUT      seconds allowed for the pytest run (default 1200)
#   QEMU_CPU           the emulated CPU (default cortex-a72, a Raspberry Pi 4's; cortex-a76 is
#                      a Pi 5's); qemu's default "max" has SVE, which no Pi has
#   DEBIAN_MIRROR      default http://deb.debian.org/debian
#   SMOKE_SECOND_STAGE=1  configure the root with debootstrap's emulated second stage (~10 min)
#                      instead of unpacking the packages natively (~15 s)
#
# How: debootstrap --foreign downloads the arm64 packages; they are unpacked natively with
# dpkg-deb (running their maintainer scripts under emulation is what makes a full debootstrap
# slow, and nothing here needs them); pip on this machine installs the aarch64 wheels into the
# root with --platform/--target (pip under emulation is ten times slower); then the root's own
# python3 runs the imports and pytest in a private mount namespace (chroot, /proc, the checkout
# bind-mounted read-only), so nothing is left mounted whatever happens.
set -euo pipefail

DIR=${1:-/var/tmp/trust-coach-arm64}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PY=3.11
PY_NODOT=311
GLIBC_MINOR=36
# libatomic1: vosk's aarch64 libvosk.so needs libatomic.so.1 (x86_64 builds do not).
DEBS=python3,libportaudio2,libasound2,libespeak-ng1,espeak-ng,libatomic1,base-passwd
SMOKE_EXTRA=${SMOKE_EXTRA:-ctranslate2}
# Quick tests that reach the native code: the content library, PocketSphinx decoding the
# committed recordings with the library's language model, espeak-ng speaking. Left out: every
# test that trains the intent matcher (the `matcher` fixture, the content-author test, the
# round trip), because its ridge regression is a BLAS solve, and BLAS under qemu's TCG runs
# 100-400 times slower than natively: minutes natively become most of an hour.
DEFAULT_TESTS='tests/test_library.py tests/test_pocketsphinx.py tests/test_tts.py
  -m "not slow and not hardware" -k "not a_content_author_can_add and not round_trip"
  --durations=5'
SMOKE_TESTS=${SMOKE_TESTS:-$DEFAULT_TESTS}
SMOKE_TESTS=${SMOKE_TESTS//$'\n'/ }

SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-1200}
QEMU_CPU=${QEMU_CPU:-cortex-a72}
ROOTFS=$DIR/rootfs
SITE=/opt/trust-coach/site          # inside the root
WHEELHOUSE=$DIR/wheelhouse          # pure-Python wheels built here from sdist-only dependencies
TIMES=()
step_start=0

say() { printf '\n== %s\n' "$*"; }
die() { printf 'arm64-smoke: %s\n' "$*" >&2; exit 1; }
begin() { say "$1"; step_name=$1; step_start=$(date +%s.%N); }
end() {
  local secs
  secs=$(awk -v a="$step_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  TIMES+=("$(printf '%7ss  %s' "$secs" "$step_name")")
  printf -- '-- %s: %ss\n' "$step_name" "$secs"
}
summary() {
  local rc=$?
  if [ ${#TIMES[@]} -gt 0 ]; then
    printf '\nTimings:\n'
    printf '  %s\n' "${TIMES[@]}"
  fi
  [ $rc -eq 0 ] && echo "arm64 smoke: PASSED" || echo "arm64 smoke: FAILED (exit $rc)"
}
trap summary EXIT

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, binfmt_misc)"
[ "$(uname -s)" = Linux ] || die "needs Linux"
case "$(uname -m)" in
  x86_64|aarch64) ;;
  *) die "runs on x86_64 (emulating aarch64) or on aarch64 itself, not $(uname -m)" ;;
esac
NATIVE=0 INTERP="" FLAGS=""
[ "$(uname -m)" = aarch64 ] && NATIVE=1
HOST_PY=${PYTHON:-python3}
"$HOST_PY" -c 'import sys, tomllib, pip' 2>/dev/null \
  || die "$HOST_PY with pip and Python >= 3.11 is needed on this machine"
mkdir -p "$DIR"

# --- 1. host tools ---------------------------------------------------------------------------
begin "host packages (debootstrap, qemu-user-static, binfmt-support)"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
command -v unshare >/dev/null || need+=(util-linux)
if [ $NATIVE -eq 0 ]; then
  command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  command -v update-binfmts >/dev/null || need+=(binfmt-support)
fi
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${need[*]} and no apt-get to install them"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
end

# --- 2. binfmt_misc: the kernel hands aarch64 executables to qemu -----------------------------
if [ $NATIVE -eq 0 ]; then
  begin "binfmt_misc registration of qemu-aarch64"
  if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
      || die "binfmt_misc is not mounted and cannot be (a container without the privilege?)"
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  fi
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
    || die "could not register qemu-aarch64 with binfmt_misc"
  grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || echo 1 > /proc/sys/fs/binfmt_misc/qemu-aarch64
  INTERP=$(awk '/^interpreter/ { print $2 }' /proc/sys/fs/binfmt_misc/qemu-aarch64)
  FLAGS=$(awk '/^flags/ { print $2 }' /proc/sys/fs/binfmt_misc/qemu-aarch64)
  echo "interpreter $INTERP, flags $FLAGS"
  end
fi

copy_interpreter() {
  # Without binfmt's fix-binary flag (F) the kernel looks for qemu inside the chroot.
  if [ $NATIVE -eq 0 ] && [[ $FLAGS != *F* ]]; then
    install -D -m 755 "$(readlink -f "$INTERP")" "$ROOTFS$INTERP"
  fi
}

# --- 3. the arm64 root -----------------------------------------------------------------------
root_key="$SUITE $DEBS $MIRROR ${SMOKE_SECOND_STAGE:-0} v1"
if [ -f "$DIR/root.ok" ] && [ "$(cat "$DIR/root.ok")" = "$root_key" ] \
    && [ -x "$ROOTFS/usr/bin/python$PY" ]; then
  say "arm64 root: reusing $ROOTFS"
else
  begin "debootstrap --foreign: download and unpack the arm64 packages"
  rm -rf "$ROOTFS" "$DIR/root.ok" "$DIR/wheels.ok"
  debootstrap --foreign --arch=arm64 --variant=minbase --include="$DEBS" \
    "$SUITE" "$ROOTFS" "$MIRROR" > "$DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$DIR/debootstrap.log" >&2; die "debootstrap failed (log: $DIR/debootstrap.log)"; }
  end
  if [ "${SMOKE_SECOND_STAGE:-0}" = 1 ]; then
    copy_interpreter
    begin "debootstrap --second-stage (maintainer scripts, emulated)"
    chroot "$ROOTFS" /debootstrap/debootstrap --second-stage >> "$DIR/debootstrap.log" 2>&1 \
      || { tail -20 "$DIR/debootstrap.log" >&2; die "second stage failed"; }
    end
  else
    begin "unpack every package natively (dpkg-deb -x)"
    for deb in "$ROOTFS"/var/cache/apt/archives/*.deb; do
      dpkg-deb -x "$deb" "$ROOTFS"
    done
    rm -f "$ROOTFS"/var/cache/apt/archives/*.deb
    # What the skipped maintainer scripts would have made and Python needs.
    cp "$ROOTFS/usr/share/base-passwd/passwd.master" "$ROOTFS/etc/passwd"
    cp "$ROOTFS/usr/share/base-passwd/group.master" "$ROOTFS/etc/group"
    end
  fi
  echo "$root_key" > "$DIR/root.ok"
fi
copy_interpreter
begin "ldconfig and a first run of the arm64 python3"
chroot "$ROOTFS" /sbin/ldconfig
chroot "$ROOTFS" /usr/bin/python3 -c \
  'import platform, sys; print(sys.version.split()[0], platform.machine()); assert platform.machine() == "aarch64"'
end

# --- 4. the aarch64 wheels, installed by this machine's pip -----------------------------------
mapfile -t REQS < <("$HOST_PY" - "$REPO/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
EOF
)
read -r -a EXTRA <<< "$SMOKE_EXTRA"
REQS+=("${EXTRA[@]}" "pytest>=8")
PLATFORMS=()
for ((m = GLIBC_MINOR; m >= 17; m--)); do PLATFORMS+=(--platform "manylinux_2_${m}_aarch64"); done
PLATFORMS+=(--platform manylinux2014_aarch64)
wheels_key="${REQS[*]} $("$HOST_PY" -m pip --version | cut -d' ' -f2) v1"
if [ -f "$DIR/wheels.ok" ] && [ "$(cat "$DIR/wheels.ok")" = "$wheels_key" ]; then
  say "aarch64 wheels: reusing $ROOTFS$SITE"
else
  begin "pip (native) installs the aarch64 wheels into the root: ${REQS[*]}"
  rm -rf "${ROOTFS:?}$SITE" "$DIR/wheels.ok"
  mkdir -p "$WHEELHOUSE"
  compile=()
  "$HOST_PY" -c "import sys; sys.exit(sys.version_info[:2] != (3, ${PY#3.}))" || compile=(--no-compile)
  for attempt in 1 2 3 4; do
    if "$HOST_PY" -m pip install -q --disable-pip-version-check --no-input --target "$ROOTFS$SITE" \
        --only-binary=:all: "${PLATFORMS[@]}" --python-version "$PY" --implementation cp \
        --abi "cp$PY_NODOT" --find-links "$WHEELHOUSE" "${compile[@]}" "${REQS[@]}" \
        > "$DIR/pip.log" 2>&1; then
      break
    fi
    # A dependency with no wheel at all: accept it if its sdist builds a pure-Python wheel.
    missing=$(sed -n 's/.*No matching distribution found for \([A-Za-z0-9._-]*\).*/\1/p' \
      "$DIR/pip.log" | head -1)
    if [ -z "$missing" ] || [ "$attempt" -eq 4 ]; then
      grep -v "^WARNING: Location" "$DIR/pip.log" | tail -15 >&2
      die "pip install failed (log: $DIR/pip.log)"
    fi
    echo "no aarch64 wheel of $missing: building its sdist here"
    built=$(mktemp -d)
    "$HOST_PY" -m pip wheel -q --disable-pip-version-check --no-deps --no-binary="$missing" \
      --wheel-dir "$built" "$missing" >> "$DIR/pip.log" 2>&1 \
      || die "$missing has no aarch64 wheel and its sdist does not build (log: $DIR/pip.log)"
    for wheel in "$built"/*.whl; do
      case $wheel in
        *-none-any.whl) mv "$wheel" "$WHEELHOUSE/" ;;
        *) die "$missing has no aarch64 wheel and its sdist is not pure Python ($wheel)" ;;
      esac
    done
    rm -rf "$built"
  done
  du -sh "$ROOTFS$SITE" | awk '{ print "installed: " $1 }'
  echo "$wheels_key" > "$DIR/wheels.ok"
  end
fi

# --- 5. run, inside a private mount namespace ------------------------------------------------
SHARED=$(dirname "$REPO")/shared
# Imports every top-level module of every distribution asked for (pyproject's dependencies and
# SMOKE_EXTRA), so a wheel whose native library cannot load on aarch64 fails here, by name.
read -r -d '' SMOKE_PY <<'EOF' || true
import importlib, importlib.metadata as md, platform, re, sys, time
assert platform.machine() == "aarch64", platform.machine()
start, imported = time.monotonic(), []
for req in sys.argv[1:]:
    dist = md.distribution(re.match(r"[A-Za-z0-9._-]+", req).group(0))
    tops = (dist.read_text("top_level.txt") or "").split() or sorted({
        str(f).split("/")[0].removesuffix(".py") for f in dist.files or ()
        if str(f).endswith((".py", ".so"))} - {"bin", "__pycache__"})
    for top in (t for t in tops if t.isidentifier()):
        importlib.import_module(top)
        imported.append(top)
import numpy, rapidfuzz
a = numpy.random.default_rng(0).standard_normal((200, 200))
assert abs(numpy.linalg.inv(a) @ a - numpy.eye(200)).max() < 1e-8
assert rapidfuzz.fuzz.ratio("help me calm down", "help me calm dawn") > 90
print(f"imported on aarch64 in {time.monotonic() - start:.1f} s:", ", ".join(imported))
EOF
run_in_root() {  # run_in_root SECONDS COMMAND...: in the root, the checkout at the same path
  # shellcheck disable=SC2016  # the script in single quotes is expanded by the inner bash
  unshare --mount --propagation private -- /bin/bash -euc '
    root=$1 repo=$2 shared=$3 site=$4 cpu=$5 limit=$6; shift 6
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mkdir -p "$root$repo"
    mount --bind -o ro "$repo" "$root$repo"
    if [ -d "$shared" ]; then
      mkdir -p "$root$shared"; mount --bind -o ro "$shared" "$root$shared"
    fi
    exec timeout --kill-after=30 "$limit" chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root \
      USER=root LANG=C.UTF-8 TMPDIR=/tmp PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 \
      QEMU_CPU="$cpu" \
      /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$repo" "$@"
  ' _ "$ROOTFS" "$REPO" "$SHARED" "$SITE" "$QEMU_CPU" "$@"  # $1 of "$@" is the limit
}

begin "import every dependency under emulation"
run_in_root 600 python3 -c "$SMOKE_PY" "${REQS[@]}"
end

begin "pytest under emulation: $SMOKE_TESTS"
eval "set -- $SMOKE_TESTS"
rc=0
run_in_root "$SMOKE_TIMEOUT" python3 -m pytest -p no:cacheprovider -q "$@" || rc=$?
[ $rc -eq 124 ] && die "pytest did not finish within $SMOKE_TIMEOUT s (SMOKE_TIMEOUT)"
[ $rc -eq 0 ] || die "pytest failed (exit $rc)"
end
