#!/usr/bin/env bash
# Screenshot of the tokwatch tray with its menu open, under Xvfb with a real StatusNotifierItem
# host (gtk-sni-tray, which also runs the StatusNotifierWatcher), on a private D-Bus session bus.
#
# Runs the real daemon (`tokwatch run`) on a temporary home with Claude Code logs, appends one
# usage line while it runs (so the picture shows the
# update path, not just the start-up state), right-clicks the icon and writes docs/tray.png
# (menu open) and docs/tray-tooltip.png (hover tooltip).
#
# Usage: docs/tray-screenshot.sh [out.png]      (Debian/Ubuntu; installs what it needs with apt)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/docs/tray.png}
OUT_TIP=${OUT%.png}-tooltip.png

# command -> Debian package
declare -A NEED=(
  [Xvfb]=xvfb
  [import]=imagemagick
  [xdotool]=xdotool
  [dbus-run-session]=dbus-daemon
  [busctl]=systemd
  [gtk-sni-tray-standalone]=haskell-gtk-sni-tray-utils
)
missing=()
for cmd in "${!NEED[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${NEED[$cmd]}")
done
# `import` must be ImageMagick's (some images ship a stand-in `convert`/`import`).
if command -v import >/dev/null 2>&1 && ! import -version 2>/dev/null | grep -q ImageMagick; then
  missing+=(imagemagick)
fi
# Fonts and icons for the GTK menu drawn by the host.
for pkg in fonts-dejavu-core adwaita-icon-theme; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null ||
    { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

echo "building tokwatch"
(cd "$ROOT" && cargo build --quiet --bin tokwatch)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/tokwatch

WORK=$(mktemp -d)
XPID=
cleanup() {
  [ -n "$XPID" ] && kill "$XPID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A free X display number.
N=99
while [ -e "/tmp/.X11-unix/X$N" ] || [ -e "/tmp/.X$N-lock" ]; do N=$((N + 1)); done
Xvfb ":$N" -screen 0 560x600x24 -nolisten tcp >"$WORK/xvfb.log" 2>&1 &
XPID=$!
export DISPLAY=":$N"
for _ in $(seq 50); do xdotool getdisplaygeometry >/dev/null 2>&1 && break; sleep 0.1; done

export BIN OUT OUT_TIP WORK
dbus-run-session -- bash -euo pipefail -c '
  wait_until() { # seconds, description, command...
    local t=$1 what=$2; shift 2
    for _ in $(seq $((t * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "timed out waiting for $what" >&2; tail -n 20 "$WORK"/*.log >&2; return 1
  }
  watcher_has_item() {
    busctl --user get-property org.kde.StatusNotifierWatcher /StatusNotifierWatcher \
      org.kde.StatusNotifierWatcher RegisteredStatusNotifierItems | grep -q StatusNotifierItem
  }
  title_is() {
    local name
    name=$(busctl --user list --no-legend | awk -v p="$APP" "\$2==p && \$1 ~ /^org\\.kde\\.StatusNotifierItem-/ {print \$1}")
    [ -n "$name" ] && busctl --user get-property "$name" /StatusNotifierItem org.kde.StatusNotifierItem Title | grep -qF "\"$1\""
  }

  # SNI host + watcher: a 40 px bar across the top of the screen.
  gtk-sni-tray-standalone --watcher --top --size 40 --color "#303030" >"$WORK/host.log" 2>&1 &
  HOST=$!
  wait_until 20 "the StatusNotifierWatcher" busctl --user status org.kde.StatusNotifierWatcher

  # The real daemon on a temporary home: Claude Code logs in two repositories, a $5 budget.
  H="$WORK/home"; P="$H/.claude/projects"
  mkdir -p "$P/-src-tokwatch" "$P/-src-dotfiles" "$WORK/config"
  printf "[budget]\ndaily_usd = 5.0\n" >"$WORK/config/config.toml"
  line() { # session cwd request-number input-tokens output-tokens
    printf "{\"type\":\"assistant\",\"sessionId\":\"%s\",\"cwd\":\"%s\",\"gitBranch\":\"main\",\"requestId\":\"req_%s\",\"timestamp\":\"%s\",\"message\":{\"model\":\"claude-opus-4-6\",\"id\":\"msg_%s\",\"usage\":{\"input_tokens\":%s,\"output_tokens\":%s}}}\n" \
      "$1" "$2" "$3" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$3" "$4" "$5"
  }
  line s1 /home/me/src/tokwatch 1 400000 0 >>"$P/-src-tokwatch/s1.jsonl"
  line s1 /home/me/src/tokwatch 2 0 20000 >>"$P/-src-tokwatch/s1.jsonl"
  line s2 /home/me/src/dotfiles 3 100000 0 >>"$P/-src-dotfiles/s2.jsonl"
  HOME="$H" TOKWATCH_DB="$WORK/t.db" TOKWATCH_CONFIG_DIR="$WORK/config" XDG_RUNTIME_DIR="$WORK" \
    "$BIN" run >"$WORK/app.log" 2>&1 &
  APP=$!
  wait_until 20 "the item to register with the watcher" watcher_has_item
  wait_until 20 "the first figures" title_is "\$3.00"

  # A live update: another request in the tokwatch session, now near the budget.
  line s1 /home/me/src/tokwatch 4 234000 0 >>"$P/-src-tokwatch/s1.jsonl"
  wait_until 20 "the live update" title_is "\$4.17"
  sleep 2 # let the host redraw the new icon

  # The first icon of the bar sits at its left edge.
  xdotool mousemove 20 20
  sleep 2.5
  import -window root "$OUT_TIP"
  xdotool click 3
  sleep 2
  import -window root "$OUT"
  xdotool key Escape
  kill "$APP" "$HOST" 2>/dev/null || true
'
echo "wrote $OUT and $OUT_TIP"
