#!/usr/bin/env bash
# One-time set-up on a fresh machine (offline: only PyPI and Debian packages reachable).
#  1. Fashion-MNIST from Debian (dataset-fashion-mnist) when it is missing.
#  2. A virtual environment in .venv with torch + torchvision (pip takes them from local disk),
#     then birdkit itself in editable mode with its extras.
# Idempotent: a finished set-up leaves .venv/.birdkit-setup and is skipped next time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
stamp="$VENV/.birdkit-setup"

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "[setup] installing Debian package dataset-fashion-mnist"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }
fi

if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade pip >/dev/null 2>&1 || true
echo "[setup] installing torch and torchvision (from local disk, ~70 s the first time)"
$PIP install -q "torch==2.14.1" "torchvision==0.29.1"
echo "[setup] installing birdkit and its extras"
$PIP install -q -e ".[all,test]"
# imagecorruptions 1.1.2 is a test-only reference (cross-check); its pinned deps (opencv-python with
# GUI libs) are not wanted, so it goes in without them (we provide opencv-python-headless).
$PIP install -q --no-deps "imagecorruptions==1.1.2"
touch "$stamp"
echo "[setup] done"
