#!/usr/bin/env bash
# `make docker-check`: build the CPU image, bring up the compose `cpu` profile with a generated test .env,
# wait for /health/ready, rank a small generated dataset over HTTP, and tear everything down.
#
#   bash scripts/docker_check.sh            # the check (minutes and gigabytes; not part of `make test`)
#   bash scripts/docker_check.sh --clean    # remove what the check keeps cached (images, stand-ins, state)
#
# It installs what it needs from Debian packages (idempotent apt-get): docker.io when no Docker is present,
# docker-compose when no Compose is, mmdebstrap when base images must be stood in for. On a machine where
# no Docker daemon runs it starts a private one (root needed) with its own socket, data root under
# $DOCKER_CHECK_STATE, no bridge and no iptables rules (Compose networks, container-to-container traffic
# and ports published on 127.0.0.1 work without them), and stops it at the end.
#
# Where no image registry can be reached, the base images the Dockerfile and docker-compose.yml name are
# stood in for by images built from Debian packages with mmdebstrap (from the Debian mirror the host's apt
# is configured with) and tagged with those names; the check prints how they differ from the real ones.
# Where PyPI is reachable but PyTorch's wheel index is not, the pinned torch wheels are fetched by the
# host's pip (its configured indexes) into a local index served on 127.0.0.1 and passed as TORCH_INDEX.
# Builds then run with the host network (and, in the stand-in base only, the host's pip CA/index settings).
#
# Teardown (also on failure or Ctrl-C): the check's containers are removed by id, its volumes and network
# removed, the private dockerd and the local wheel index stopped. Images (and the private daemon's data
# root) stay cached for the next run; `--clean` removes them.
#
# Environment: DOCKER_CHECK_STATE (default ~/.cache/zoorank-docker-check), DOCKER_CHECK_GPU=1 (also build
# docker/Dockerfile.gpu, on the Debian python stand-in when the CUDA base cannot be pulled),
# DOCKER_CHECK_TIMEOUT_S (readiness and ranking, default 600).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

STATE=${DOCKER_CHECK_STATE:-${XDG_CACHE_HOME:-$HOME/.cache}/zoorank-docker-check}
TIMEOUT_S=${DOCKER_CHECK_TIMEOUT_S:-600}
CPU_IMAGE=zoorank:cpu
GPU_CHECK_IMAGE=zoorank:gpu-check
STANDIN_LABEL=org.zoorank.standin
PY_BASE=$(sed -n 's/^ARG PYTHON_IMAGE=//p' docker/Dockerfile)
CUDA_BASE=$(sed -n 's/^ARG CUDA_IMAGE=//p' docker/Dockerfile.gpu)
REDIS_BASE=$(awk '/^  redis:/ {r = 1} r && $1 == "image:" {print $2; exit}' docker-compose.yml)
TORCH_PIN=$(grep -o '"torch==[0-9.]*"' docker/Dockerfile | head -1 | tr -d '"')
TORCHVISION_PIN=$(grep -o '"torchvision==[0-9.]*"' docker/Dockerfile | head -1 | tr -d '"')
DEFAULT_TORCH_INDEX=$(sed -n 's/^ARG TORCH_INDEX=//p' docker/Dockerfile)

STARTED_DAEMON=0 DOCKERD_PID="" INDEX_PID="" INDEX="" PROJECT="" RUN_DIR="" EXEC_ROOT=""
HOST_NETWORK=0  # builds use the host network (private daemon without a bridge, stand-ins, local index)
T0=$(date +%s)

log() { printf '[docker-check +%4ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { log "FAILED: $*"; exit 1; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

ensure_packages() {  # ensure_packages PKG... (idempotent; apt-get only for what is missing)
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}

project_ids() {  # project_ids ps|volume|network: the check's objects, by compose project label
  local filter="label=com.docker.compose.project=$PROJECT"
  case $1 in
    ps) docker ps -aq --filter "$filter" ;;
    volume) docker volume ls -q --filter "$filter" ;;
    network) docker network ls -q --filter "$filter" ;;
  esac
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$PROJECT" ] && docker info >/dev/null 2>&1; then
    if [ "$rc" -ne 0 ]; then
      log "logs of the check's containers (last 30 lines each):"
      for id in $(project_ids ps); do
        echo "--- $(docker inspect -f '{{.Name}}' "$id")"
        docker logs --tail 30 "$id" 2>&1
      done
    fi
    local ids vols nets
    ids=$(project_ids ps)
    [ -n "$ids" ] && docker rm -f -v $ids >/dev/null
    vols=$(project_ids volume)
    [ -n "$vols" ] && docker volume rm $vols >/dev/null
    nets=$(project_ids network)
    [ -n "$nets" ] && docker network rm $nets >/dev/null
    log "torn down: removed $(echo $ids | wc -w) containers, $(echo $vols | wc -w) volumes, $(echo $nets | wc -w) networks; left: $(project_ids ps | wc -l) containers, $(project_ids volume | wc -l) volumes"
  fi
  [ -n "$INDEX_PID" ] && kill "$INDEX_PID" 2>/dev/null && wait "$INDEX_PID" 2>/dev/null
  if [ "$STARTED_DAEMON" = 1 ] && [ -n "$DOCKERD_PID" ]; then
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$DOCKERD_PID" 2>/dev/null && kill -KILL "$DOCKERD_PID"
    wait "$DOCKERD_PID" 2>/dev/null
    log "private dockerd (pid $DOCKERD_PID) stopped"
  fi
  [ -n "$RUN_DIR" ] && rm -rf "$RUN_DIR"
  if [ -n "$EXEC_ROOT" ]; then  # dockerd leaves its default network namespace mounted there
    awk -v root="$EXEC_ROOT/" 'index($2, root) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount
    rm -rf "$EXEC_ROOT"
  fi
  if [ "$rc" -eq 0 ]; then log "docker-check passed in $(($(date +%s) - T0)) s"; else log "docker-check FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Docker: the CLI, Compose, a daemon -------------------------------------------------------------------
ensure_daemon() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    log "using the running Docker daemon ($(docker info -f '{{.ServerVersion}}'))"
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "no Docker daemon runs and starting a private one needs root"
  command -v dockerd >/dev/null 2>&1 || ensure_packages docker.io
  command -v docker >/dev/null 2>&1 || ensure_packages docker.io
  mkdir -p "$STATE/data"
  EXEC_ROOT=$(mktemp -d /tmp/zrdc.XXXXXX)  # short: containerd's socket path lives under it
  export DOCKER_HOST="unix://$EXEC_ROOT/docker.sock"
  log "starting a private dockerd (data root $STATE/data, no bridge, no iptables)"
  dockerd --host "$DOCKER_HOST" --data-root "$STATE/data" --exec-root "$EXEC_ROOT/exec" \
    --pidfile "$EXEC_ROOT/dockerd.pid" --iptables=false --ip6tables=false --ip-forward=false \
    --ip-masq=false --bridge=none --storage-driver=overlay2 >"$STATE/dockerd.log" 2>&1 &
  DOCKERD_PID=$! STARTED_DAEMON=1
  for _ in $(seq 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$STATE/dockerd.log"; die "the private dockerd did not start"; }
  log "private dockerd $(docker info -f '{{.ServerVersion}}') up (pid $DOCKERD_PID)"
  HOST_NETWORK=1  # no bridge: build steps reach the network through the host's
}

# --- stand-in base images ------------------------------------------------------------------------------
debian_sources() {  # debian_sources SUITE: the host's Debian apt entries, rewritten for SUITE, one-line form
  python3 - "$1" <<'PY'
import glob, re, sys
suite = sys.argv[1]
codename = next((l.split("=", 1)[1].strip().strip('"') for l in open("/etc/os-release")
                 if l.startswith("VERSION_CODENAME=")), suite)
out = []
def add(uris, suites):
    for u in uris:
        for s in suites:
            if s == codename or s.startswith(codename + "-"):
                out.append(f"deb {u} {suite}{s[len(codename):]} main")
for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for block in re.split(r"\n\s*\n", open(f).read()):
        d = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            k, v = line.split(":", 1)
            d[k.strip().lower()] = v.split()
        if "deb" in d.get("types", []):
            add(d.get("uris", []), d.get("suites", []))
for f in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        p = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(p) >= 3 and p[0] == "deb":
            add([p[1]], [p[2]])
print("\n".join(dict.fromkeys(out)))
PY
}

host_pip_ca() {
  local ca=${PIP_CERT:-}
  [ -n "$ca" ] || ca=$(python3 -m pip config get global.cert 2>/dev/null || true)
  [ -n "$ca" ] || ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$ca" ] && echo "$ca"
}

build_standin() {  # build_standin python|redis NAME:TAG
  local kind=$1 name=$2 suite=${2##*-} tar hooks=() includes
  ensure_packages mmdebstrap
  mapfile -t sources < <(debian_sources "$suite")
  [ ${#sources[@]} -gt 0 ] || die "no Debian mirror in the host's apt sources; cannot build stand-ins"
  tar="$STATE/standin-$kind.tar"
  case $kind in
    python)
      includes=ca-certificates,python3,python3-venv,python3-pip
      local ca; ca=$(host_pip_ca || true)
      hooks+=(--customize-hook='for t in python python3; do ln -sf /usr/bin/python3 "$1/usr/local/bin/$t"; done')
      hooks+=(--customize-hook='for t in pip pip3; do ln -sf /usr/bin/pip3 "$1/usr/local/bin/$t"; done')
      if [ -n "$ca" ]; then
        hooks+=(--customize-hook="cp '$ca' \"\$1/etc/pip-host-ca.pem\" && printf '[global]\ncert = /etc/pip-host-ca.pem\ntimeout = 180\n' > \"\$1/etc/pip.conf\"")
      fi
      ;;
    redis)
      includes=redis-server,gosu
      cat >"$STATE/redis-entrypoint.sh" <<'SH'
#!/bin/sh
# Stand-in for the official redis image's entrypoint: `redis-server ...` (or options only) run as `redis`.
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' +
  exec gosu redis "$0" "$@"
fi
um="$(umask)"; [ "$um" = 0022 ] && umask 0077
exec "$@"
SH
      hooks+=(--customize-hook="install -m 755 '$STATE/redis-entrypoint.sh' \"\$1/usr/local/bin/docker-entrypoint.sh\"")
      hooks+=(--customize-hook='chroot "$1" sh -c "groupmod -g 999 redis && usermod -u 999 -g 999 redis && mkdir -p /data && chown -R redis:redis /data /var/lib/redis /var/log/redis"')
      ;;
  esac
  log "building stand-in $name from Debian $suite packages ($includes) with mmdebstrap"
  mmdebstrap --quiet --variant=minbase --format=tar --include="$includes" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    "${hooks[@]}" "$suite" "$tar" "${sources[@]}"
  local changes=(-c "LABEL $STANDIN_LABEL=$kind-$suite"
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' -c 'ENV LANG=C.UTF-8')
  case $kind in
    python) changes+=(-c 'CMD ["python3"]') ;;
    redis) changes+=(-c 'WORKDIR /data' -c 'VOLUME /data' -c 'EXPOSE 6379'
      -c 'ENTRYPOINT ["docker-entrypoint.sh"]' -c 'CMD ["redis-server"]') ;;
  esac
  docker import "${changes[@]}" "$tar" "$name" >/dev/null
  rm -f "$tar"
}

ensure_base() {  # ensure_base python|redis NAME:TAG: present, pulled, or stood in for
  local kind=$1 name=$2 label
  if docker image inspect "$name" >/dev/null 2>&1; then
    label=$(docker image inspect -f "{{index .Config.Labels \"$STANDIN_LABEL\"}}" "$name" 2>/dev/null || true)
    log "base $name: present${label:+ (stand-in from a previous run: $label)}"
  elif timeout 120 docker pull -q "$name" >/dev/null 2>&1; then
    log "base $name: pulled"
  else
    log "base $name: no registry reachable"
    build_standin "$kind" "$name"
    label=$kind
  fi
  if [ -n "${label:-}" ]; then
    HOST_NETWORK=1
    case $kind in
      python) log "  stand-in: Debian's python3 ($(docker run --rm --network none --entrypoint python3 "$name" -V 2>&1 | cut -d' ' -f2), not ${name#python:}) in /usr/bin (symlinked into /usr/local/bin), Debian's older pip; the host's pip CA/timeout in /etc/pip.conf (inherited by the runtime image)" ;;
      redis) log "  stand-in: Debian's redis-server $(docker run --rm --network none --entrypoint redis-server "$name" --version | grep -o 'v=[0-9.]*' | cut -c3-) (not ${name#redis:}), gosu, an entrypoint that drops root like the official one (user redis, uid 999, /data)" ;;
    esac
  fi
}

# --- the PyTorch wheels --------------------------------------------------------------------------------
torch_index() {  # sets INDEX, the TORCH_INDEX build argument (empty: the Dockerfile's default is reachable)
  if curl -fsS -m 15 -o /dev/null "$DEFAULT_TORCH_INDEX/torch/" 2>/dev/null; then return; fi
  local dir="$STATE/torch-index" pyver
  pyver=$(docker run --rm --network none --entrypoint python3 "$PY_BASE" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  if ! ls "$dir"/files/torch-"${TORCH_PIN#torch==}"*cp"${pyver/./}"*.whl >/dev/null 2>&1; then
    log "$DEFAULT_TORCH_INDEX unreachable: fetching $TORCH_PIN $TORCHVISION_PIN (Python $pyver) with the host's pip"
    rm -rf "$dir" && mkdir -p "$dir/files"
    python3 -m pip download -q --no-deps --only-binary=:all: --implementation cp --python-version "$pyver" \
      --platform manylinux_2_28_x86_64 -d "$dir/files" "$TORCH_PIN" "$TORCHVISION_PIN" >"$STATE/pip-download.log" 2>&1 \
      || { cat "$STATE/pip-download.log"; die "pip could not fetch the torch wheels"; }
  fi
  local f project
  for f in "$dir"/files/*.whl; do
    project=$(basename "$f" | cut -d- -f1 | tr 'A-Z_' 'a-z-')
    mkdir -p "$dir/simple/$project"
    printf '<a href="../../files/%s#sha256=%s">%s</a>\n' "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" \
      "$(basename "$f")" >"$dir/simple/$project/index.html"
  done
  # a fixed port when free: TORCH_INDEX is a build argument, so a new URL would rebuild the layers after it
  local port=${DOCKER_CHECK_INDEX_PORT:-38517}
  if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  fi
  python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" >/dev/null 2>&1 &
  INDEX_PID=$!
  for _ in $(seq 40); do curl -fsS -o /dev/null "http://127.0.0.1:$port/simple/torch/" 2>/dev/null && break; sleep 0.25; done
  log "$DEFAULT_TORCH_INDEX unreachable: local index on 127.0.0.1:$port with $(cd "$dir/files" && echo *.whl)"
  INDEX="http://127.0.0.1:$port/simple" HOST_NETWORK=1
}

clean() {
  if docker info >/dev/null 2>&1; then
    local standins; standins=$(docker images -q --filter "label=$STANDIN_LABEL" | sort -u)
    docker image rm -f "$CPU_IMAGE" "$GPU_CHECK_IMAGE" $standins 2>/dev/null || true
    docker image prune -f >/dev/null
    log "removed $CPU_IMAGE, $GPU_CHECK_IMAGE and the stand-in bases from the running daemon"
  fi
  [ -d "$STATE" ] && $SUDO rm -rf "$STATE" && log "removed $STATE (private daemon data root, wheel index)"
  exit 0
}

# --- main ----------------------------------------------------------------------------------------------
[ "${1:-}" = --clean ] && clean
[ $# -eq 0 ] || die "usage: $0 [--clean]"
mkdir -p "$STATE"
ensure_packages curl ca-certificates
ensure_daemon
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0  # no buildx (Debian): the classic builder
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  ensure_packages docker-compose
fi
log "docker $(docker version -f '{{.Client.Version}}') (daemon $(docker version -f '{{.Server.Version}}')), $(compose version --short 2>/dev/null | head -1 | sed 's/^/compose /')"

ensure_base python "$PY_BASE"
ensure_base redis "$REDIS_BASE"
torch_index
BUILD_ARGS=() BUILD_OPTS=()
[ -n "$INDEX" ] && BUILD_ARGS+=(--build-arg "TORCH_INDEX=$INDEX")
[ "$HOST_NETWORK" = 1 ] && BUILD_OPTS+=(--network host)

build() {  # build DOCKERFILE TAG [ARGS...]
  local file=$1 tag=$2 t; shift 2
  local logf="$STATE/build-${tag//[:\/]/-}.log"
  log "building $tag from $file ${BUILD_OPTS[*]} ${BUILD_ARGS[*]} $*"
  t=$(date +%s)
  if ! docker build "${BUILD_OPTS[@]}" "${BUILD_ARGS[@]}" "$@" -f "$file" -t "$tag" . >"$logf" 2>&1; then
    tail -n 60 "$logf"
    die "docker build of $tag failed (full log: $logf)"
  fi
  grep -E '^Step [0-9]+/[0-9]+ : (FROM|RUN|COPY)' "$logf" | cut -c1-140
  grep -A3 'python -m zoo.assets status' "$logf" | grep -v -E '^(Step|---| --->)' | head -3 || true
  log "built $tag in $(($(date +%s) - t)) s: $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.2f GB", $1/1e9}')"
}
build docker/Dockerfile "$CPU_IMAGE"
if [ "${DOCKER_CHECK_GPU:-0}" = 1 ]; then
  if docker image inspect "$CUDA_BASE" >/dev/null 2>&1 || timeout 120 docker pull -q "$CUDA_BASE" >/dev/null 2>&1; then
    build docker/Dockerfile.gpu "$GPU_CHECK_IMAGE"
  else
    log "$CUDA_BASE cannot be pulled (no stand-in can reproduce it): building Dockerfile.gpu's stages on $PY_BASE"
    build docker/Dockerfile.gpu "$GPU_CHECK_IMAGE" --build-arg "CUDA_IMAGE=$PY_BASE"
  fi
fi
log "images: $(docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(zoorank|${PY_BASE%%:*}|${REDIS_BASE%%:*})[:]" | paste -sd, - | sed 's/,/, /g')"

# The test deployment: a generated .env (random secrets, one API key, a free loopback port) and dataset.
RUN_DIR=$(mktemp -d /tmp/zoorank-docker-check.XXXXXX)
PROJECT=zoorankcheck$$
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p "$RUN_DIR/data"
cat >"$RUN_DIR/.env" <<EOF
REDIS_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
ZOORANK_SESSION_SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
ZOORANK_API_KEYS=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
DATA_DIR=$RUN_DIR/data
API_PUBLISH=127.0.0.1:$PORT
WORKER_MEMORY=6g
EOF
docker run --rm --network none --user "$(id -u):$(id -g)" --entrypoint python -v "$RUN_DIR/data:/out" \
  "$CPU_IMAGE" -c '
import numpy as np
from pathlib import Path
from PIL import Image
rng = np.random.default_rng(0)
for k, name in enumerate(["bars", "blobs", "checks"]):
    d = Path("/out/tiny") / name
    d.mkdir(parents=True)
    for i in range(16):
        y, x = np.mgrid[0:32, 0:32]
        base = [(x // 4) % 2, np.exp(-((x - 16) ** 2 + (y - 16) ** 2) / 60.0), ((x // 8 + y // 8) % 2)][k]
        img = np.clip(base * 200 + rng.normal(0, 25, (32, 32)), 0, 255).astype(np.uint8)
        Image.fromarray(np.stack([img, np.roll(img, i, 1), img[::-1]], -1)).save(d / f"{i:02d}.png")
'
chmod -R a+rX "$RUN_DIR/data"
log "test .env and dataset (3 classes x 16 PNG) in $RUN_DIR; API on 127.0.0.1:$PORT"

COMPOSE=(-p "$PROJECT" --project-directory "$REPO" -f "$REPO/docker-compose.yml" --env-file "$RUN_DIR/.env" --profile cpu)
services=$(compose "${COMPOSE[@]}" config --services | paste -sd' ' -)
log "compose --profile cpu up -d --no-build (services in the file: $services)"
t=$(date +%s)
compose "${COMPOSE[@]}" up -d --no-build 2>&1 | sed 's/^/  /'
URL=http://127.0.0.1:$PORT
deadline=$(($(date +%s) + TIMEOUT_S))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health/ready")" = 200 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "/health/ready did not answer 200 within $TIMEOUT_S s"
  sleep 2
done
log "/health/ready: 200 after $(($(date +%s) - t)) s"
api=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter label=com.docker.compose.service=api)
until [ "$(docker inspect -f '{{.State.Health.Status}}' "$api")" = healthy ]; do
  [ "$(date +%s)" -lt "$deadline" ] || die "the api container did not become healthy"
  sleep 2
done
docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '  {{.ID}} {{.Image}} {{.Status}} {{.Names}}'
log "stack healthy after $(($(date +%s) - t)) s"
redis=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" --filter label=com.docker.compose.service=redis)
redis_uid=$(docker exec "$redis" awk '/^Uid:/ {print $2}' /proc/1/status)
[ "$redis_uid" != 0 ] || die "redis-server runs as root"
log "redis-server runs as uid $redis_uid (the entrypoint dropped root)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/models")" = 401 ] || die "the API answered without a key"

# One ranking over HTTP: the small cnn4 models of the built-in zoo, LogME, all 48 images.
body='{"dataset": "data:tiny", "models": ["cnn4.*"], "scorers": ["logme"], "sampling": {"max_per_class": 16, "seed": 0}}'
t=$(date +%s)
job=$(curl -fsS -X POST "$URL/v1/rankings" -H "X-API-Key: $KEY" -H 'Content-Type: application/json' -d "$body")
id=$(printf %s "$job" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
log "POST /v1/rankings -> job $id"
while :; do
  job=$(curl -fsS "$URL/v1/jobs/$id" -H "X-API-Key: $KEY")
  status=$(printf %s "$job" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  case $status in succeeded | failed | cancelled) break ;; esac
  [ "$(date +%s)" -lt "$deadline" ] || die "job $id still $status after $TIMEOUT_S s"
  sleep 2
done
[ "$status" = succeeded ] || die "job $id $status: $job"
ranking_id=$(printf %s "$job" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j.get("ranking_id") or j["id"])')
curl -fsS "$URL/v1/rankings/$ranking_id" -H "X-API-Key: $KEY" | python3 -c '
import json, sys
models = json.load(sys.stdin)["models"]
assert len(models) == 4, models  # cnn4.emoji, cnn4.fashion_mnist, cnn4.glyphs, cnn4.random_init
for m in models:
    print("  rank %-3s %-20s %s" % (m.get("aggregate_rank", "?"), m["id"], json.dumps(m.get("scores", ""))[:70]))
'
log "ranking succeeded over HTTP in $(($(date +%s) - t)) s (job $id)"
