#!/usr/bin/env bash
# Install what Attention Lens needs into ./.venv; with --dev also the test
# tools, Debian's Chromium for the browser tests and the Fashion-MNIST files.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[[ "${1:-}" == "--dev" ]] && DEV=1

apt_packages=(fonts-dejavu-core)
if [[ $DEV == 1 ]]; then
    apt_packages+=(chromium dataset-fashion-mnist)
fi
missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if (( ${#missing[@]} )); then
    if [[ $(id -u) == 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    "$PYTHON" -m venv .venv
fi
requirements=requirements.txt
[[ $DEV == 1 ]] && requirements=requirements-dev.txt
stamp=.venv/.installed-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-$DEV
if [[ ! -f $stamp ]]; then
    echo "setup: installing Python packages from $requirements (torch is large; the first time takes a few minutes)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -r "$requirements"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
