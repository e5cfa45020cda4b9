#!/usr/bin/env bash
# Installs vif-firewall on a dom0, and removes it again (--uninstall), without a package manager.
#
# usage: scripts/install.sh [--standalone] [--default] [--root DIR]
#        scripts/install.sh --uninstall [--root DIR]
#
#   (none)        install dist/vif-firewall (the bundle, needs Node.js >= 18.19) as
#                 /etc/xen/scripts/vif-firewall
#   --standalone  install build/vif-firewall instead (npm run build:sea: no Node.js needed)
#   --default     also make it every vif's script: vif.default.script="vif-firewall" in
#                 /etc/xen/xl.conf (a backup is kept as xl.conf.vif-firewall.bak; an active
#                 vif.default.script line of another script is commented out, not deleted)
#   --root DIR    install under DIR instead of / (nothing outside DIR is touched: no systemctl)
#   --uninstall   reverse exactly what earlier installs did, as recorded in
#                 /var/lib/vif-firewall/install.manifest; every other file stays as it is
#
# Also writes a commented example /etc/xen/vif-firewall.conf when there is none (never
# overwrites one), and installs and enables vif-firewall-sweep.service, which runs
# `vif-firewall sweep` at boot, before xendomains starts guests (enabling starts nothing now).
# Running it again upgrades the hook and the unit; --default, once given, stays until
# --uninstall. Uninstall keeps an example config that was edited since, and says so.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HOOK=/etc/xen/scripts/vif-firewall
CONF=/etc/xen/vif-firewall.conf
XLCONF=/etc/xen/xl.conf
XLBACKUP=/etc/xen/xl.conf.vif-firewall.bak
UNIT=/etc/systemd/system/vif-firewall-sweep.service
WANTS=/etc/systemd/system/multi-user.target.wants/vif-firewall-sweep.service
MANIFEST=/var/lib/vif-firewall/install.manifest
# What --default appends to xl.conf, and the prefix it puts before a line it disables.
DEFAULT_LINE='vif.default.script="vif-firewall"  # set by vif-firewall install.sh --default'
DISABLED='#vif-firewall-disabled# '

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

standalone=0 default=0 uninstall=0 ROOT=
while (($#)); do
  case $1 in
    --standalone) standalone=1 ;;
    --default) default=1 ;;
    --uninstall) uninstall=1 ;;
    --root) [[ $# -ge 2 && -n $2 ]] || die "--root needs a directory"; ROOT=$2; shift ;;
    --root=*) ROOT=${1#--root=}; [[ -n $ROOT ]] || die "--root needs a directory" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
((uninstall && (standalone || default))) && die "--uninstall takes no other option than --root"
if [[ -n $ROOT ]]; then
  [[ -d $ROOT ]] || die "--root $ROOT: no such directory"
  ROOT=$(cd "$ROOT" && pwd)
  [[ $ROOT != / ]] || ROOT=
fi
[[ -n $ROOT || $(id -u) -eq 0 ]] || die "run as root (or give --root DIR)"
# systemd is told only about the running system, never about another root.
systemd_running() { [[ -z $ROOT && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

# ---------------------------------------------------------------------------------------
# The manifest: one line per thing done, "<kind> <path>", read back by --uninstall.
#   dir P      a directory we created        file P   a file we created (the hook, the unit)
#   conf P     the example config we wrote (removed at uninstall only if still unchanged:
#              its sha256 is kept in the line "confsum <sum>")
#   link P     the unit's enablement symlink
#   xl-created P | xl-edited P   xl.conf made by us | edited by us (backup: "backup P")
#   xl-noeol P xl.conf had no final newline before we appended our line
declare -a RECORD=()
have() { local line; for line in "${RECORD[@]}"; do [[ $line == "$1" ]] && return 0; done; return 1; }
record() { have "$1" || RECORD+=("$1"); }
load_manifest() { if [[ -f $ROOT$MANIFEST ]]; then mapfile -t RECORD <"$ROOT$MANIFEST"; fi; }
save_manifest() {
  local tmp="$ROOT$MANIFEST.tmp"
  printf '%s\n' "${RECORD[@]}" >"$tmp" && mv -f "$tmp" "$ROOT$MANIFEST"
}
# mkdir -p that records each directory it creates, parents first.
make_dir() {
  local d=$1 parent
  [[ -d $ROOT$d ]] && return 0
  parent=$(dirname "$d")
  make_dir "$parent"
  mkdir -m 0755 "$ROOT$d"
  record "dir $d"
}
sum() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------
# xl.conf
active_default_lines() { grep -E '^[[:space:]]*vif\.default\.script[[:space:]]*=' "$1" || true; }

set_default_script() {
  local f=$ROOT$XLCONF last tmp
  if [[ ! -e $f ]]; then
    make_dir "$(dirname "$XLCONF")"
    printf '%s\n' "$DEFAULT_LINE" >"$f"
    chmod 0644 "$f"
    record "xl-created $XLCONF"
    say "created $XLCONF with vif.default.script=\"vif-firewall\""
    return
  fi
  last=$(active_default_lines "$f" | tail -n 1)
  if [[ $last =~ =[[:space:]]*[\"\'](/etc/xen/scripts/)?vif-firewall[\"\'] ]]; then
    say "$XLCONF already sets vif.default.script to vif-firewall: unchanged"
    return
  fi
  [[ -e $ROOT$XLBACKUP ]] && die "$XLBACKUP exists already: move it away first"
  cp -p "$f" "$ROOT$XLBACKUP"
  record "backup $XLBACKUP"
  tmp=$(mktemp "$f.XXXXXX")
  awk -v off="$DISABLED" '/^[[:space:]]*vif\.default\.script[[:space:]]*=/ { print off $0; next } { print }' "$f" >"$tmp"
  if [[ -s $f && $(tail -c 1 "$f" | wc -l) -eq 0 ]]; then
    # awk ended the last line with a newline: that is the one byte we add before ours.
    record "xl-noeol $XLCONF"
  fi
  printf '%s\n' "$DEFAULT_LINE" >>"$tmp"
  cat "$tmp" >"$f" # in place: the file keeps its inode, owner and mode
  rm -f "$tmp"
  record "xl-edited $XLCONF"
  say "set vif.default.script=\"vif-firewall\" in $XLCONF (backup: $XLBACKUP)"
}

unset_default_script() {
  local f=$ROOT$XLCONF backup=$ROOT$XLBACKUP tmp
  if [[ ! -e $f ]]; then
    say "$XLCONF is gone: nothing to undo there"
  else
    tmp=$(mktemp "$f.XXXXXX")
    awk -v ours="$DEFAULT_LINE" -v off="$DISABLED" '
      $0 == ours { next }
      index($0, off) == 1 { print substr($0, length(off) + 1); next }
      { print }' "$f" >"$tmp"
    if have "xl-noeol $XLCONF" && [[ -f $backup ]]; then
      # Take back the newline we added before our line, unless lines were added after it since.
      cp "$tmp" "$tmp.eol" && truncate -s -1 "$tmp.eol"
      if cmp -s "$tmp.eol" "$backup"; then mv -f "$tmp.eol" "$tmp"; else rm -f "$tmp.eol"; fi
    fi
    if have "xl-created $XLCONF" && [[ ! -s $tmp ]]; then
      rm -f "$f"
      say "removed $XLCONF (install.sh had created it)"
    else
      if [[ -f $backup ]] && cmp -s "$tmp" "$backup"; then
        say "restored $XLCONF as it was before --default"
      else
        say "removed our vif.default.script line from $XLCONF (other changes made since are kept)"
      fi
      cat "$tmp" >"$f"
    fi
    rm -f "$tmp"
  fi
  if have "backup $XLBACKUP" && [[ -e $backup ]]; then rm -f "$backup"; fi
}

# ---------------------------------------------------------------------------------------
node_ok() {
  local v
  v=$(PATH="$PATH:/usr/local/bin:/usr/bin:/bin" node -p 'process.versions.node' 2>/dev/null) || return 1
  local IFS=.
  read -r -a p <<<"$v"
  ((p[0] > 18 || (p[0] == 18 && p[1] >= 19)))
}

install_hook() {
  local from
  if ((standalone)); then
    from=$SRC/build/vif-firewall
    [[ -x $from ]] || die "$from is missing: build it with npm run build:sea (or install the bundle, without --standalone)"
  else
    from=$SRC/dist/vif-firewall
    [[ -f $from ]] || die "$from is missing: build it with npm run build"
    if [[ -z $ROOT ]] && ! node_ok; then
      die "the bundle needs Node.js >= 18.19 (apt-get install nodejs), and this system has $(node --version 2>/dev/null || echo none): install it, or use --standalone"
    fi
  fi
  [[ -n $ROOT ]] || ! dpkg-query -W -f='${Status}' vif-firewall 2>/dev/null | grep -q 'ok installed' ||
    die "the Debian package vif-firewall is installed: upgrade or remove it with apt/dpkg instead"

  load_manifest
  if ((default)) && [[ -e $ROOT$XLBACKUP ]] && ! have "backup $XLBACKUP"; then
    die "$XLBACKUP exists already, and not from an earlier install.sh: move it away first"
  fi
  make_dir "$(dirname "$MANIFEST")"
  trap save_manifest EXIT # also when a later step fails: --uninstall must know what was done
  make_dir "$(dirname "$HOOK")"
  install -m 0755 "$from" "$ROOT$HOOK.new"
  mv -f "$ROOT$HOOK.new" "$ROOT$HOOK" # atomic: a hotplug call running now sees the old or the new file
  record "file $HOOK"
  say "installed $HOOK ($( ((standalone)) && echo "standalone executable" || echo "bundle, for Node.js >= 18.19"))"

  if [[ -e $ROOT$CONF ]]; then
    say "kept $CONF as it is"
  else
    install -m 0644 "$SRC/packaging/vif-firewall.conf" "$ROOT$CONF"
    record "conf $CONF"
    record "confsum $(sum "$ROOT$CONF")"
    say "wrote the example $CONF (all comments: the defaults apply)"
  fi

  make_dir "$(dirname "$UNIT")"
  install -m 0644 "$SRC/packaging/vif-firewall-sweep.service" "$ROOT$UNIT"
  record "file $UNIT"
  make_dir "$(dirname "$WANTS")"
  if [[ ! -L $ROOT$WANTS ]]; then
    ln -s "$UNIT" "$ROOT$WANTS" # what `systemctl enable` does for WantedBy=multi-user.target
    record "link $WANTS"
  fi
  say "installed and enabled vif-firewall-sweep.service (vif-firewall sweep at boot)"

  if ((default)); then set_default_script; fi
  if systemd_running; then systemctl daemon-reload; fi
  say "done${ROOT:+ (under $ROOT)}"
}

uninstall_all() {
  if [[ ! -f $ROOT$MANIFEST ]]; then
    say "nothing to uninstall: no $MANIFEST${ROOT:+ under $ROOT}"
    return
  fi
  load_manifest
  local line kind path confsum='' dirs=()
  for line in "${RECORD[@]}"; do [[ $line == confsum\ * ]] && confsum=${line#confsum }; done
  if have "xl-edited $XLCONF" || have "xl-created $XLCONF"; then unset_default_script; fi
  for line in "${RECORD[@]}"; do
    kind=${line%% *} path=${line#* }
    case $kind in
      file | link) rm -f "$ROOT$path" && say "removed $path" ;;
      conf)
        if [[ ! -e $ROOT$path ]]; then :
        elif [[ $(sum "$ROOT$path") == "$confsum" ]]; then rm -f "$ROOT$path" && say "removed $path"
        else say "kept $path: it was changed since install (delete it by hand if you want it gone)"
        fi ;;
      dir) dirs=("$path" "${dirs[@]}") ;; # children before parents
    esac
  done
  rm -f "$ROOT$MANIFEST"
  for path in "${dirs[@]}"; do rmdir "$ROOT$path" 2>/dev/null || true; done
  if systemd_running; then systemctl daemon-reload; fi
  say "uninstalled${ROOT:+ (under $ROOT)}"
}

if ((uninstall)); then uninstall_all; else install_hook; fi
