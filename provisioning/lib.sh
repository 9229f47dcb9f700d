# shellcheck shell=bash
# Shared by install.sh, relay-install.sh and uninstall.sh: sourced, never run.
# Every step checks before it acts, so a script can run again at any time.

say() { printf '%s: %s\n' "$PROG" "$*"; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "run as root (sudo $0 …)"
}

# systemd is the init system of this boot (sd_booted(3)); false in a chroot or container.
systemd_running() {
  [[ -d /run/systemd/system ]]
}

# Install the Debian packages that are missing; with --offline only say which.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  if [[ ${OFFLINE:-0} == 1 ]] || ! command -v apt-get >/dev/null; then
    die "missing Debian packages: ${missing[*]} (apt-get install them first)"
  fi
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A system user with its own group, no login shell and no home of its own.
ensure_user() {
  local name=$1 home=$2
  if getent passwd "$name" >/dev/null; then
    say "user $name exists"
  else
    useradd --system --user-group --home-dir "$home" --no-create-home \
      --shell /usr/sbin/nologin --comment "Callbox service" "$name"
    say "created system user $name"
  fi
}

# Copy the parts of the checkout pip needs (and the docs, units and scripts) to DEST.
copy_source() {
  local from=$1 dest=$2
  [[ -f $from/pyproject.toml ]] || die "$from is not a Callbox checkout (no pyproject.toml)"
  rm -rf "$dest.new"
  install -d -m 0755 "$dest.new"
  tar -C "$from" --exclude=__pycache__ --exclude='*.egg-info' --exclude=build \
    -cf - pyproject.toml README.md appliance relay-server systemd provisioning docs |
    tar -C "$dest.new" -xf -
  rm -rf "$dest"
  mv "$dest.new" "$dest"
}

# A virtual environment at VENV with the project from SRC installed. An existing one is
# kept (pip upgrades it in place) unless its interpreter or its view of the system's
# packages changed. Options: PYTHON, SYSTEM_SITE (0/1), WHEELS (dir), OFFLINE (0/1).
install_venv() {
  local src=$1 venv=$2 want_site=false have_site="" version
  [[ ${SYSTEM_SITE:-0} == 1 ]] && want_site=true
  version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
    die "cannot run $PYTHON"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "$PYTHON is Python $version; Callbox needs 3.11 or later"
  if [[ -x $venv/bin/python && -f $venv/pyvenv.cfg ]]; then
    have_site=$(sed -n 's/^include-system-site-packages = //p' "$venv/pyvenv.cfg")
    if [[ $have_site != "$want_site" ]] ||
      [[ $("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) != "$version" ]] ||
      [[ $(readlink -f "$venv/bin/python") != $(readlink -f "$PYTHON") ]]; then
      say "interpreter changed: making $venv anew"
      rm -rf "$venv"
    fi
  elif [[ -e $venv ]]; then
    rm -rf "$venv"
  fi
  if [[ ! -x $venv/bin/python ]]; then
    local flags=()
    if [[ $want_site == true ]]; then
      flags+=(--system-site-packages)
      # The interpreter's own pip (and setuptools, for the build) then serve the venv.
      "$PYTHON" -m pip --version >/dev/null 2>&1 && flags+=(--without-pip)
    fi
    "$PYTHON" -m venv "${flags[@]}" "$venv" ||
      die "$PYTHON -m venv failed (Debian: apt-get install python3-venv)"
    say "made the virtual environment $venv (Python $version)"
  fi
  local pip=(--disable-pip-version-check --no-input --quiet --upgrade)
  if [[ -n ${WHEELS:-} ]]; then
    pip+=(--no-index --find-links "$WHEELS")
  elif [[ ${OFFLINE:-0} == 1 ]]; then
    # The build uses the setuptools (and wheel) the venv sees; so must every dependency
    # be there already (--system-site-packages).
    pip+=(--no-index --no-build-isolation)
  fi
  "$venv/bin/python" -m pip install "${pip[@]}" "$src" || die "pip install of $src failed"
  say "installed $("$venv/bin/python" -m pip show callbox 2>/dev/null | sed -n 's/^Version: /callbox /p') into $venv"
}

# Write CONTENT to PATH atomically with MODE (and OWNER:GROUP).
write_file() {
  local path=$1 mode=$2 owner=$3 content=$4 tmp
  tmp=$(mktemp "$path.XXXXXX")
  printf '%s' "$content" >"$tmp"
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$path"
}

# Install a unit file; enable and (re)start it when systemd runs this boot.
install_unit() {
  local file=$1 name
  name=$(basename "$file")
  install -m 0644 "$file" "/etc/systemd/system/$name"
  say "unit /etc/systemd/system/$name written"
}

start_units() {
  local unit
  systemctl daemon-reload
  for unit in "$@"; do
    systemctl enable --quiet "$unit"
    if systemctl is-active --quiet "$unit"; then
      systemctl restart "$unit"
      say "$unit restarted"
    else
      systemctl start "$unit"
      say "$unit enabled and started"
    fi
  done
}
