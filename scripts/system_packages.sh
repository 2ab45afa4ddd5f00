#!/usr/bin/env bash
# Install Debian packages the project needs beyond Python (a browser for the dashboard's
# tests, PostgreSQL, Redis and nginx for the production-shaped run, …) when they are missing.
#   scripts/system_packages.sh chromium fonts-noto-cjk
#   scripts/system_packages.sh postgresql redis-server nginx
# The project runs its own instances of these servers (on free ports, in throw-away folders),
# so installing one never starts the package's own service: a policy-rc.d answers "no" for
# the length of the install, as in container images.
# Already-installed packages cost one `dpkg-query` each; `apt-get update` runs at most once
# per boot (a stamp under /run) and only when something is missing. Every machine the
# project runs on is fresh, so `make test` calls this rather than a README step.
set -euo pipefail

missing=()
for pkg in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
        SUDO=(sudo -n)
    else
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
stamp=/run/plan-metrics-apt-updated
# a lock held by another apt run (e.g. two test sessions) is waited for, not an error
APT=(apt-get -o DPkg::Lock::Timeout=600 -q)
if [ ! -e "$stamp" ]; then
    "${SUDO[@]}" "${APT[@]}" update > /dev/null
    "${SUDO[@]}" touch "$stamp" 2> /dev/null || true
fi
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" > /dev/null
    "${SUDO[@]}" chmod 0755 "$policy"
    own_policy=1
fi
trap '[ "$own_policy" -eq 1 ] && "${SUDO[@]}" rm -f "$policy"' EXIT
"${SUDO[@]}" "${APT[@]}" install -y --no-install-recommends "${missing[@]}" > /dev/null
