#!/usr/bin/env bash
# Install the Callbox relay on a public Debian 12 server, from the checkout this script
# sits in: a system user `callbox-relay`, the code and a virtual environment in
# /opt/callbox-relay, the data in /var/lib/callbox-relay (0700), IPv4 forwarding on at
# boot, the hardened systemd unit (LimitNOFILE=65536), and a host firewall that lets
# in only the relay's ports (and SSH). Run it again at any time: it upgrades in place
# and keeps the registry, keys and settings. docs/operator-guide.md, "Install".
set -euo pipefail
PROG=callbox-relay-install
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=provisioning/lib.sh
source "$HERE/lib.sh"

usage() {
  cat <<USAGE
usage: $0 [options]
  --public-host NAME    the relay's public DNS name: runs \`relay-server init\` once
  --ssh-port N          let SSH in on port N (default 22; 0: no SSH rule)
  --no-firewall         write no host firewall
  --rewrite-firewall    write /etc/callbox-relay/firewall.nft anew even if it exists
  --python PATH         interpreter for the virtual environment (default /usr/bin/python3)
  --system-site-packages  let the venv use the interpreter's packages
  --wheels DIR          install offline from the wheels in DIR
  --offline             no network at all: every dependency must already be there
  --source DIR          the Callbox checkout to install (default: this script's)
USAGE
}

PUBLIC_HOST=""
SSH_PORT=22
FIREWALL=1
REWRITE_FIREWALL=0
PYTHON=/usr/bin/python3
SYSTEM_SITE=0
WHEELS=""
OFFLINE=0
SOURCE=$(cd "$HERE/.." && pwd)
while (($#)); do
  case $1 in
    --public-host) PUBLIC_HOST=$2 && shift ;;
    --ssh-port) SSH_PORT=$2 && shift ;;
    --no-firewall) FIREWALL=0 ;;
    --rewrite-firewall) REWRITE_FIREWALL=1 ;;
    --python) PYTHON=$2 && shift ;;
    --system-site-packages) SYSTEM_SITE=1 ;;
    --wheels) WHEELS=$(cd "$2" && pwd) && OFFLINE=1 && shift ;;
    --offline) OFFLINE=1 ;;
    --source) SOURCE=$(cd "$2" && pwd) && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage >&2 && die "unknown option $1" ;;
  esac
  shift
done
[[ $SSH_PORT =~ ^[0-9]+$ && $SSH_PORT -le 65535 ]] || die "--ssh-port: 0 to 65535"

USER_NAME=callbox-relay
PREFIX=/opt/callbox-relay
DATA=/var/lib/callbox-relay
ETC=/etc/callbox-relay
FIREWALL_FILE=$ETC/firewall.nft
SYSCTL_FILE=/etc/sysctl.d/60-callbox-relay.conf
UNIT=callbox-relay.service
FIREWALL_UNIT=callbox-relay-firewall.service

need_root
packages=(nftables wireguard-tools iproute2 util-linux)
# Debian's interpreter needs its venv module packaged apart; another brings its own.
[[ $PYTHON == /usr/bin/python3 ]] && packages+=(python3 python3-venv)
ensure_packages "${packages[@]}"

ensure_user "$USER_NAME" "$DATA"
install -d -m 0755 -o root -g root "$PREFIX"
install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$DATA"
install -d -m 0750 -o root -g "$USER_NAME" "$ETC"

copy_source "$SOURCE" "$PREFIX/src"
install_venv "$PREFIX/src" "$PREFIX/venv"

write_file "/usr/local/sbin/callbox-relay" 0755 root:root "#!/bin/sh
# The relay's command as the service's user, on the service's data folder.
CALLBOX_RELAY_DATA=$DATA exec /usr/sbin/runuser -u $USER_NAME -- $PREFIX/venv/bin/relay-server \"\$@\"
"

if [[ -n $PUBLIC_HOST && ! -f $DATA/relay.toml ]]; then
  /usr/local/sbin/callbox-relay init --public-host "$PUBLIC_HOST"
fi

# The relay turns forwarding on itself too; its unit cannot (ProtectKernelTunables=)
# unless the sysctl is already what it wants, which this file makes it at boot.
write_file "$SYSCTL_FILE" 0644 root:root "# Callbox relay: staff devices reach their company's box through this host.
net.ipv4.ip_forward = 1
"
systemd_running && sysctl -q -p "$SYSCTL_FILE"

# The ports the relay serves, from relay.toml when it exists (else the defaults).
read -r HTTPS HTTP API WG IFACE < <("$PREFIX/venv/bin/python" - "$DATA" <<'PY'
import sys
from pathlib import Path
from relay_server import config
try:
    c = config.load(Path(sys.argv[1]))
except config.ConfigError:
    c = config.RelayConfig(data_dir=Path(sys.argv[1]))
print(c.https_port, c.http_port, c.api_port, c.wg_port, c.interface)
PY
)

render_firewall() {
  local ssh=""
  if ((SSH_PORT)); then
    ssh="
    # SSH, so that this firewall never locks the operator out (--ssh-port 0: none).
    tcp dport $SSH_PORT accept"
  fi
  cat <<NFT
#!/usr/sbin/nft -f
# Callbox relay host firewall, written by provisioning/relay-install.sh: nothing comes
# in but visitors (https $HTTPS, http $HTTP), enrolment ($API), WireGuard (udp $WG), SSH,
# and what the tunnel carries to the relay itself (its table inet callbox_relay says
# what may pass). Metrics stay on 127.0.0.1.
# To adapt: edit here, then \`systemctl reload $FIREWALL_UNIT\`.
table inet callbox_relay_host {}
delete table inet callbox_relay_host
table inet callbox_relay_host {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif "lo" accept
    meta l4proto { icmp, ipv6-icmp } accept
    tcp dport { $HTTP, $HTTPS, $API } accept
    udp dport $WG accept
    iifname "$IFACE" accept$ssh
  }
}
NFT
}

if ((FIREWALL)); then
  if [[ -f $FIREWALL_FILE && $REWRITE_FIREWALL == 0 ]]; then
    say "kept $FIREWALL_FILE (yours to edit; --rewrite-firewall writes it anew)"
  else
    write_file "$FIREWALL_FILE" 0640 root:root "$(render_firewall)
"
    say "wrote $FIREWALL_FILE: the relay's ports open, nothing else inbound"
  fi
  write_file "/etc/systemd/system/$FIREWALL_UNIT" 0644 root:root "$(
    sed -e "s|/etc/callbox/|$ETC/|g" -e 's|callbox_host|callbox_relay_host|g' \
      -e 's|Callbox host firewall|Callbox relay host firewall|' \
      "$SOURCE/provisioning/callbox-firewall.service"
  )
"
  say "unit /etc/systemd/system/$FIREWALL_UNIT written"
fi
install_unit "$SOURCE/systemd/$UNIT"

if systemd_running; then
  units=("$UNIT")
  ((FIREWALL)) && units=("$FIREWALL_UNIT" "${units[@]}")
  if [[ -f $DATA/relay.toml ]]; then
    start_units "${units[@]}"
    say "logs: journalctl -u $UNIT"
  else
    systemctl daemon-reload
    say "next: $0 --public-host relay.example.com (or callbox-relay init …), then it starts"
  fi
else
  say "systemd is not running here (a chroot or container?): units written, not enabled."
  say "  On the booted host: systemctl enable --now $FIREWALL_UNIT $UNIT"
fi
say "tenants: callbox-relay tenant add --name NAME --hostname chat.example.com"
