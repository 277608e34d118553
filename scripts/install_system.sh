#!/usr/bin/env bash
# Debian packages the project needs; idempotent, and quick when everything is present.
# chromium: the dashboard's browser tests (Playwright drives it); docker-compose: `docker-compose config`
# validates docker-compose.yml in the deployment test (no Docker daemon needed).
set -euo pipefail
PACKAGES=(
  dataset-fashion-mnist
  redis-server
  chromium docker-compose
  fonts-dejavu-core fonts-liberation2 fonts-urw-base35 fonts-noto-core
  fonts-bwht fonts-breip fonts-dkg-handwriting fonts-humor-sans fonts-klee
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
