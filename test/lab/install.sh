#!/usr/bin/env bash
# Installs the Debian packages the integration lab needs (Kamailio, baresip, SIPp, Mosquitto,
# coturn, rtpengine, audio and capture tools). Idempotent: installs only what is missing, runs
# `apt-get update` at most once, and stops the system services the packages start (the lab runs
# its own Kamailio, Mosquitto, coturn and rtpengine on loopback, on its own ports).
# Usage: test/lab/install.sh
set -euo pipefail

PACKAGES=(
  kamailio kamailio-websocket-modules kamailio-tls-modules kamailio-extra-modules
  mosquitto baresip-core sip-tester socat alsa-utils sox espeak-ng tshark
  libusb-1.0-0 udev openssl tmux
  pulseaudio pulseaudio-utils libasound2-plugins
  coturn rtpengine-daemon iproute2 nftables
)

# System services of these packages that must never run on a lab machine: coturn's unit starts
# turnserver on every address (0.0.0.0:3478) under systemd (its /etc/default/coturn switch only
# governs the SysV script), and rtpengine-daemon's unit listens on every interface and installs
# iptables rules. When this script installs them they are masked first, so the postinst cannot
# start them even for a moment (a symlink in /etc/systemd/system; `systemctl unmask` undoes it);
# when already installed, the loop at the end stops and disables them if they run.

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install.sh: not root and no sudo; run it as root" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  if [[ $status != ii* ]]; then
    missing+=("$pkg")
  fi
done

# service => its package: masked only when this run installs the package.
declare -A MASK_BEFORE_INSTALL=([coturn]=coturn [rtpengine-daemon]=rtpengine-daemon [rtpengine]=rtpengine-daemon)
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  for service in "${!MASK_BEFORE_INSTALL[@]}"; do
    if [[ " ${missing[*]} " == *" ${MASK_BEFORE_INSTALL[$service]} "* ]]; then
      "${SUDO[@]}" systemctl mask --quiet "$service" 2>/dev/null || true
      echo "install.sh: masked the $service system service before installing it (the lab starts its own)"
    fi
  done
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install.sh: all ${#PACKAGES[@]} lab packages already installed"
else
  echo "install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer it so the install never blocks.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | "${SUDO[@]}" debconf-set-selections
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  echo "install.sh: installed ${#missing[@]} package(s)"
fi

# The packages may have started system services that own the default ports (5060, 1883).
# Only those services are stopped (systemd unit, or the init script's own pidfile), never
# processes by name: other labs on the machine run kamailio and mosquitto too.
pidfile_alive() {
  [[ -r $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}
declare -A PIDFILES=(
  [kamailio]=/run/kamailio/kamailio.pid [mosquitto]=/run/mosquitto/mosquitto.pid
  [coturn]=/var/run/turnserver.pid [rtpengine-daemon]=/run/rtpengine/rtpengine-daemon.pid
)
for service in kamailio mosquitto coturn rtpengine-daemon; do
  stopped=false
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    if systemctl is-active --quiet "$service"; then
      "${SUDO[@]}" systemctl stop "$service"
      "${SUDO[@]}" systemctl disable --quiet "$service" || true
      stopped=true
    fi
  elif pidfile_alive "${PIDFILES[$service]}" && [[ -x /etc/init.d/$service ]]; then
    "${SUDO[@]}" /etc/init.d/"$service" stop >/dev/null 2>&1 || true
    stopped=true
  fi
  if [[ $stopped == true ]]; then
    echo "install.sh: stopped the $service system service (the lab starts its own)"
  else
    echo "install.sh: no $service system service running"
  fi
done

for cmd in kamailio kamcmd baresip sipp mosquitto sox espeak-ng openssl socat tshark pulseaudio pactl \
  turnserver rtpengine ip nft; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "install.sh: $cmd still missing" >&2; exit 1; }
done
echo "install.sh: lab tools present"
