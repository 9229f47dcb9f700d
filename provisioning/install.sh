#!/usr/bin/env bash
# Install the Callbox appliance on a fresh Debian 12 box, from the checkout this script
# sits in: a system user `callbox`, the code and a virtual environment in /opt/callbox,
# the data in /var/lib/callbox (0700), settings in /etc/callbox/callbox.env, the
# hardened systemd unit, and a host firewall (nftables) that lets only the LAN reach
# the console. Run it again at any time: it upgrades in place and keeps your data,
# your settings and your firewall edits. docs/it-guide.md, "Install on Debian 12".
set -euo pipefail
PROG=callbox-install
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=provisioning/lib.sh
source "$HERE/lib.sh"

usage() {
  cat <<USAGE
usage: $0 [options]
  --port N              console port (default 8080, or what callbox.env says)
  --lan CIDR            a network that may reach the console (repeat; default the
                        private ranges 10/8, 172.16/12, 192.168/16, fc00::/7, fe80::/10)
  --ssh-port N          let the LAN reach SSH on port N (default 22; 0: no SSH rule)
  --no-firewall         write no host firewall
  --rewrite-firewall    write /etc/callbox/firewall.nft anew even if it exists
  --python PATH         interpreter for the virtual environment (default /usr/bin/python3)
  --system-site-packages  let the venv use the interpreter's packages (e.g. Debian's)
  --wheels DIR          install offline from the wheels in DIR
  --offline             no network at all: every dependency must already be there
  --source DIR          the Callbox checkout to install (default: this script's)
USAGE
}

PORT=""
LANS=()
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
    --port) PORT=$2 && shift ;;
    --lan) LANS+=("$2") && shift ;;
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
[[ -z $PORT || $PORT =~ ^[0-9]+$ && $PORT -ge 1 && $PORT -le 65535 ]] || die "--port: 1 to 65535"
[[ $SSH_PORT =~ ^[0-9]+$ && $SSH_PORT -le 65535 ]] || die "--ssh-port: 0 to 65535"

USER_NAME=callbox
PREFIX=/opt/callbox
DATA=/var/lib/callbox
ETC=/etc/callbox
ENV_FILE=$ETC/callbox.env
FIREWALL_FILE=$ETC/firewall.nft
UNIT=callbox-appliance.service
FIREWALL_UNIT=callbox-firewall.service

need_root
# wireguard-tools, iproute2 and nftables: the relay tunnel and the box's own firewall.
packages=(nftables wireguard-tools iproute2 util-linux)
# Debian's interpreter needs its venv module packaged apart; another brings its own.
[[ $PYTHON == /usr/bin/python3 ]] && packages+=(python3 python3-venv)
ensure_packages "${packages[@]}"

ensure_user "$USER_NAME" "$DATA"
install -d -m 0755 -o root -g root "$PREFIX"
install -d -m 0700 -o "$USER_NAME" -g "$USER_NAME" "$DATA"
install -d -m 0750 -o root -g "$USER_NAME" "$ETC"
install -d -m 0750 -o root -g adm /var/log/callbox # supervisord's logs only

# Settings: written once, then IT's to edit (the service reads them at each start).
if [[ -f $ENV_FILE ]]; then
  say "kept $ENV_FILE"
  if [[ -n $PORT ]]; then
    sed -i '/^CALLBOX_PORT=/d' "$ENV_FILE"
    printf 'CALLBOX_PORT=%s\n' "$PORT" >>"$ENV_FILE"
  fi
else
  write_file "$ENV_FILE" 0640 "root:$USER_NAME" "# Callbox settings for the service: CALLBOX_<SETTING>=value (README.md, \"Settings\").
# After a change: systemctl restart $UNIT
CALLBOX_DATA=$DATA
CALLBOX_PORT=${PORT:-8080}
"
  say "wrote $ENV_FILE"
fi
PORT=$(sed -n 's/^CALLBOX_PORT=//p' "$ENV_FILE" | tail -n 1)
PORT=${PORT:-8080}
TUNNEL=$(sed -n 's/^CALLBOX_TUNNEL_INTERFACE=//p' "$ENV_FILE" | tail -n 1)
TUNNEL=${TUNNEL:-cbox0}

copy_source "$SOURCE" "$PREFIX/src"
install_venv "$PREFIX/src" "$PREFIX/venv"

# `callbox user add …` etc.: the appliance's command as the service's user and settings.
write_file /usr/local/sbin/callbox 0755 root:root "#!/bin/sh
# The appliance's command as the service's user, with the service's settings.
for arg in \"\$@\"; do
  case \$arg in
    -*) ;;
    run) echo 'callbox: the service runs the box: systemctl start $UNIT' >&2 && exit 2 ;;
    *) break ;;
  esac
done
set -a
. $ENV_FILE
set +a
# The audit log names who typed the command (the sudo user), not the service's user.
who=\${SUDO_USER:-\$(id -un)}
exec /usr/sbin/runuser -u $USER_NAME -- /usr/bin/env LOGNAME=\"\$who\" USER=\"\$who\" \\
  $PREFIX/venv/bin/appliance \"\$@\"
"

render_firewall() {
  local lan4=() lan6=() net ssh=""
  if ((${#LANS[@]} == 0)); then
    LANS=(10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 fc00::/7 fe80::/10)
  fi
  for net in "${LANS[@]}"; do
    if [[ $net == *:* ]]; then lan6+=("$net"); else lan4+=("$net"); fi
  done
  ((${#lan4[@]})) || lan4=(127.0.0.1)
  ((${#lan6[@]})) || lan6=(::1)
  if ((SSH_PORT)); then
    ssh="
    # SSH from the LAN, so that this firewall never locks IT out (--ssh-port 0: none).
    ip saddr @lan4 tcp dport $SSH_PORT accept
    ip6 saddr @lan6 tcp dport $SSH_PORT accept"
  fi
  local IFS=,
  cat <<NFT
#!/usr/sbin/nft -f
# Callbox host firewall, written by provisioning/install.sh. Nothing comes in but the
# console from the LAN, mDNS, SSH from the LAN and the relay tunnel's own ports.
# To adapt: edit the sets and rules here, then \`systemctl reload $FIREWALL_UNIT\`
# (or run install.sh with --lan/--ssh-port/--port and --rewrite-firewall).
# It is its own table: /etc/nftables.conf and other tables are left alone, and a
# packet must pass every table's input chain.
table inet callbox_host {}
delete table inet callbox_host
table inet callbox_host {
  set lan4 { type ipv4_addr; flags interval; elements = { ${lan4[*]} } }
  set lan6 { type ipv6_addr; flags interval; elements = { ${lan6[*]} } }
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    ct state invalid drop
    iif "lo" accept
    # IPv6 does not work without ICMPv6 (neighbour discovery); ICMP errors and ping.
    meta l4proto { icmp, ipv6-icmp } accept
    # DHCPv6 answers to this box's link-local address.
    ip6 daddr fe80::/64 udp dport 546 accept
    # The console, from the LAN only.
    ip saddr @lan4 tcp dport $PORT accept
    ip6 saddr @lan6 tcp dport $PORT accept
    # mDNS: agents find the console by name.
    ip saddr @lan4 udp dport 5353 accept
    ip6 saddr @lan6 udp dport 5353 accept$ssh
    # The relay tunnel: visitors (443), ACME (80), staff's console over TLS (8443).
    # The box's own table (inet callbox_$TUNNEL) narrows each to its one source.
    iifname "$TUNNEL" tcp dport { 80, 443, 8443 } accept
  }
}
NFT
}

if ((FIREWALL)); then
  if [[ -f $FIREWALL_FILE && $REWRITE_FIREWALL == 0 ]]; then
    say "kept $FIREWALL_FILE (yours to edit; --rewrite-firewall writes it anew)"
    grep -q "tcp dport $PORT accept" "$FIREWALL_FILE" ||
      warn "$FIREWALL_FILE does not open the console port $PORT: edit it, or --rewrite-firewall"
  else
    write_file "$FIREWALL_FILE" 0640 root:root "$(render_firewall)
"
    say "wrote $FIREWALL_FILE: console port $PORT open to the LAN, nothing else inbound"
  fi
  install_unit "$SOURCE/provisioning/$FIREWALL_UNIT"
fi
install_unit "$SOURCE/systemd/$UNIT"

if systemd_running; then
  units=("$UNIT")
  ((FIREWALL)) && units=("$FIREWALL_UNIT" "${units[@]}")
  since=$(date '+%Y-%m-%d %H:%M:%S')
  start_units "${units[@]}"
  # The link this start printed (the service is ready once it has printed it).
  link=""
  for _ in $(seq 1 60); do
    log=$(journalctl -u "$UNIT" --since "$since" -o cat --no-pager 2>/dev/null) || true
    link=$(grep -o 'http://[^ ]*/setup?token=[^ ]*' <<<"$log" | tail -n 1) || true
    [[ -n $link ]] && break
    grep -q "listening on port" <<<"$log" && break
    sleep 0.5
  done
  say "logs: journalctl -u $UNIT"
  if [[ -n $link ]]; then
    say "first boot: open $link to create the administrator"
  else
    say "console: http://$(hostname -I | cut -d' ' -f1):$PORT/console (an administrator exists,"
    say "  or see journalctl -u $UNIT for the one-time /setup link)"
  fi
else
  say "systemd is not running here (a chroot or container?): units written, not enabled."
  if ((FIREWALL)); then
    say "  On the booted box: systemctl enable --now $FIREWALL_UNIT $UNIT"
  else
    say "  On the booted box: systemctl enable --now $UNIT"
  fi
  say "  Or without systemd: provisioning/supervisord/callbox.conf (docs/it-guide.md)"
  say "first boot: start the service; it prints a one-time link"
  say "  http://<this box's LAN address>:$PORT/setup?token=… to create the administrator"
  say "  (or: callbox user add --role admin NAME)"
fi
