#!/usr/bin/env bash
# Installs what sysvmdiag needs on a fresh Debian machine (run as root): the lab's system
# packages, a venv under .venv and the pinned pip packages. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(iproute2 iputils-ping traceroute arping mtr-tiny iputils-tracepath ndisc6 iptables openssh-server openssh-client python3 python3-venv curl)
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
  log=.venv/pip-install.log
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[dev]"; } \
      >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "bootstrap: pip install failed (full log: $log)" >&2
    exit 1
  fi
  .venv/bin/python -c "import sysvmdiag, simvms, paramiko, moto, aws_lambda_powertools, uvicorn" \
    || { echo "bootstrap: Python packages failed to install" >&2; exit 1; }
  touch "$stamp"
fi

# `bootstrap.sh --compose`: also the compose lab's Debian packages (the engine, compose v1, debootstrap).
if [[ ${1:-} == --compose ]]; then
  compose_missing=()
  for pkg in docker.io docker-compose debootstrap; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || compose_missing+=("$pkg")
  done
  if ((${#compose_missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "bootstrap: missing packages ${compose_missing[*]}; run as root or: apt-get install ${compose_missing[*]}" >&2
      exit 1
    fi
    echo "bootstrap: installing ${compose_missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${compose_missing[@]}" >/dev/null
  fi
fi

# `bootstrap.sh --sam`: also the AWS SAM CLI in .venv-sam (for `sam validate --lint` in make test).
if [[ ${1:-} == --sam ]]; then
  sam_stamp=.venv-sam/.installed
  if [[ ! -f $sam_stamp || requirements-sam.txt -nt $sam_stamp ]]; then
    echo "bootstrap: installing the AWS SAM CLI into .venv-sam"
    [[ -x .venv-sam/bin/python ]] || python3 -m venv .venv-sam
    if ! .venv-sam/bin/python -m pip install -q -r requirements-sam.txt >.venv-sam/pip-install.log 2>&1; then
      tail -n 30 .venv-sam/pip-install.log >&2
      echo "bootstrap: installing aws-sam-cli failed (full log: .venv-sam/pip-install.log)" >&2
      exit 1
    fi
    touch "$sam_stamp"
  fi
fi
