#!/usr/bin/env bash
# Makes sure headless Chromium is on this machine for tests/browser.rs.
# Machines are not kept between sessions, so the project installs what it
# needs itself: Debian's own package, since a browser build downloaded from
# elsewhere cannot be fetched here. Safe to run any number of times.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "==> chromium already installed: $(chromium --version 2>/dev/null || echo unknown version)" >&2
  exit 0
fi

# Root needs no sudo; anyone else needs it. Without either, a developer's
# run goes on (the browser test skips itself), but CI must not pass so.
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
elif [ -n "${CI:-}" ]; then
  echo "==> chromium is missing and installing it needs root (no sudo here)" >&2
  exit 1
else
  echo "==> chromium is missing and installing it needs root (no sudo here); the browser test will be skipped" >&2
  exit 0
fi

echo "==> installing chromium with apt-get" >&2
# A fresh machine's package lists may be empty or stale: refresh them first.
"${as_root[@]}" apt-get update -qq >&2
# Through env, since sudo would drop the variable that keeps apt from asking.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium >&2
echo "==> installed $(chromium --version 2>/dev/null || echo chromium)" >&2
