#!/usr/bin/env bash
# Installs what sysvmdiag needs on a fresh Debian machine (run as root): the lab's system
# packages, a venv under .venv and the pinned pip packages. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 iputils-ping traceroute arping openssh-server openssh-client python3 python3-venv)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing packages ${missing[*]}; run as root or: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=.venv/.installed
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if [[ ! -f $stamp || pyproject.toml -nt $stamp || layers/common/requirements.txt -nt $stamp \
      || requirements-dev.txt -nt $stamp ]]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -e ".[dev]" 2>&1 | grep -vE '^WARNING: Location|^\s*$' || true
  .venv/bin/python -c "import sysvmdiag, simvms, paramiko, moto, aws_lambda_powertools" \
    || { echo "bootstrap: Python packages failed to install" >&2; exit 1; }
  touch "$stamp"
fi
