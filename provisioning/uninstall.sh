#!/usr/bin/env bash
# Remove what install.sh (or, with --relay, relay-install.sh) put on this host: the
# units, the code and virtual environment, the command wrapper and the host firewall.
# The data folder, the settings and the service user stay unless --purge is given.
set -euo pipefail
PROG=callbox-uninstall
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=provisioning/lib.sh
source "$HERE/lib.sh"

PURGE=0
RELAY=0
while (($#)); do
  case $1 in
    --purge) PURGE=1 ;;
    --relay) RELAY=1 ;;
    -h | --help)
      echo "usage: $0 [--relay] [--purge]   (--purge also deletes the data, settings and user)"
      exit 0
      ;;
    *) die "unknown option $1" ;;
  esac
  shift
done

if ((RELAY)); then
  USER_NAME=callbox-relay PREFIX=/opt/callbox-relay DATA=/var/lib/callbox-relay
  ETC=/etc/callbox-relay UNITS=(callbox-relay.service callbox-relay-firewall.service)
  WRAPPER=/usr/local/sbin/callbox-relay TABLE=callbox_relay_host
  EXTRA=(/etc/sysctl.d/60-callbox-relay.conf)
else
  USER_NAME=callbox PREFIX=/opt/callbox DATA=/var/lib/callbox
  ETC=/etc/callbox UNITS=(callbox-appliance.service callbox-firewall.service)
  WRAPPER=/usr/local/sbin/callbox TABLE=callbox_host
  EXTRA=(/var/log/callbox)
fi

need_root
if systemd_running; then
  for unit in "${UNITS[@]}"; do
    # Stopping the firewall unit deletes its table from the running kernel.
    if systemctl disable --now --quiet "$unit" 2>/dev/null; then
      say "stopped and disabled $unit"
    fi
  done
fi
for unit in "${UNITS[@]}"; do
  rm -f "/etc/systemd/system/$unit"
done
systemd_running && systemctl daemon-reload
if ! systemd_running && command -v nft >/dev/null && nft list table inet "$TABLE" >/dev/null 2>&1; then
  say "the host firewall table inet $TABLE is still loaded: nft delete table inet $TABLE"
fi

if ((!RELAY)); then
  # An enrolled box leaves its tunnel up across stops (so staff stay connected through
  # a restart); without the box it must go, with the box's own firewall table on it.
  tunnel=""
  [[ -f $ETC/callbox.env ]] && tunnel=$(sed -n 's/^CALLBOX_TUNNEL_INTERFACE=//p' "$ETC/callbox.env" | tail -n 1)
  tunnel=${tunnel:-cbox0}
  if command -v ip >/dev/null && ip link show dev "$tunnel" >/dev/null 2>&1; then
    ip link del dev "$tunnel" && say "removed the tunnel interface $tunnel"
  fi
  if command -v nft >/dev/null && nft list table inet "callbox_$tunnel" >/dev/null 2>&1; then
    nft delete table inet "callbox_$tunnel" && say "removed the tunnel's table inet callbox_$tunnel"
  fi
fi

rm -rf "$PREFIX" "$WRAPPER" "${EXTRA[@]}"
say "removed $PREFIX, $WRAPPER and the units"

if ((PURGE)); then
  for unit in "${UNITS[@]}"; do
    rm -rf "/etc/systemd/system/$unit.d" # drop-ins (systemctl edit): settings too
  done
  systemd_running && systemctl daemon-reload
  rm -rf "$DATA" "$ETC"
  if getent passwd "$USER_NAME" >/dev/null; then
    userdel "$USER_NAME"
    getent group "$USER_NAME" >/dev/null && groupdel "$USER_NAME"
  fi
  say "purged $DATA, $ETC and the user $USER_NAME"
else
  say "kept the data in $DATA, the settings in $ETC and the user $USER_NAME (--purge deletes them)"
fi
