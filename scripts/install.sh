#!/usr/bin/env bash
# Installs vif-firewall on a dom0, and removes it again (--uninstall), without a package manager.
#
# usage: scripts/install.sh [--standalone] [--default [--force]] [--root DIR]
#        scripts/install.sh --uninstall [--root DIR]
#
#   (none)        install dist/vif-firewall (the bundle, needs Node.js >= 18.19) as
#                 /usr/lib/vif-firewall/vif-firewall, with the symlinks
#                 /usr/sbin/vif-firewall (the command) and /etc/xen/scripts/vif-firewall
#                 (what libxl runs), as the Debian package does
#   --standalone  install build/vif-firewall instead (npm run build:sea: no Node.js needed)
#   --default     also make it every vif's script: vif.default.script="vif-firewall" in
#                 /etc/xen/xl.conf (a backup is kept as xl.conf.vif-firewall.bak). Refuses
#                 when xl.conf already makes another script the default, and names it
#   --force       with --default: replace that other default script (its line is commented
#                 out, not deleted, and restored by --uninstall)
#   --root DIR    install under DIR (created if missing) instead of / (nothing outside DIR
#                 is touched: no systemctl)
#   --uninstall   reverse exactly what earlier installs did, as recorded in
#                 /var/lib/vif-firewall/install.manifest; every other file stays as it is
#
# Also installs the manual pages vif-firewall(8) and vif-firewall.conf(5), writes a commented
# example /etc/xen/vif-firewall.conf when there is none (never overwrites one), and installs
# every packaging/*.service in /etc/systemd/system, enabling those with an [Install] section
# (vif-firewall-sweep.service runs `vif-firewall sweep` at boot, before xendomains starts
# guests; enabling starts nothing now). Running it again upgrades all of these; --default,
# once given, stays until --uninstall. Uninstall keeps an example config that was edited
# since, and says so.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROGRAM=/usr/lib/vif-firewall/vif-firewall
COMMAND=/usr/sbin/vif-firewall
HOOK=/etc/xen/scripts/vif-firewall
MANDIR=/usr/share/man
CONF=/etc/xen/vif-firewall.conf
XLCONF=/etc/xen/xl.conf
XLBACKUP=/etc/xen/xl.conf.vif-firewall.bak
UNITDIR=/etc/systemd/system
MANIFEST=/var/lib/vif-firewall/install.manifest
# What --default appends to xl.conf, and the prefix it puts before a line it disables.
DEFAULT_LINE='vif.default.script="vif-firewall"  # set by vif-firewall install.sh --default'
DISABLED='#vif-firewall-disabled# '

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }
die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

standalone=0 default=0 force=0 uninstall=0 ROOT=
while (($#)); do
  case $1 in
    --standalone) standalone=1 ;;
    --default) default=1 ;;
    --force) force=1 ;;
    --uninstall) uninstall=1 ;;
    --root) [[ $# -ge 2 && -n $2 ]] || die "--root needs a directory"; ROOT=$2; shift ;;
    --root=*) ROOT=${1#--root=}; [[ -n $ROOT ]] || die "--root needs a directory" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done
((uninstall && (standalone || default || force))) && die "--uninstall takes no other option than --root"
((force && !default)) && { echo "install.sh: --force goes with --default" >&2; usage >&2; exit 2; }
if [[ -n $ROOT ]]; then
  if ((!uninstall)); then mkdir -p "$ROOT" || die "--root $ROOT: cannot create it"; fi
  [[ -d $ROOT ]] || die "--root $ROOT: no such directory"
  ROOT=$(cd "$ROOT" && pwd)
  [[ $ROOT != / ]] || ROOT=
fi
[[ -n $ROOT || $(id -u) -eq 0 ]] || die "run as root (or give --root DIR)"
# systemd is told only about the running system, never about another root.
systemd_running() { [[ -z $ROOT && -d /run/systemd/system ]] && command -v systemctl >/dev/null; }

# ---------------------------------------------------------------------------------------
# The manifest: one line per thing done, "<kind> <path>", read back by --uninstall.
#   dir P      a directory we created        file P   a file we created (the program, a unit, a page)
#   conf P     the example config we wrote (removed at uninstall only if still unchanged:
#              its sha256 is kept in the line "confsum <sum>")
#   link P     a symlink we made (the command, the hook, a unit's enablement)
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
# A symlink put in place in one rename, replacing whatever was there.
symlink() {
  make_dir "$(dirname "$2")"
  ln -sfn "$1" "$ROOT$2.new"
  mv -fT "$ROOT$2.new" "$ROOT$2"
  record "link $2"
}

# ---------------------------------------------------------------------------------------
# xl.conf
active_default_lines() { grep -E '^[[:space:]]*vif\.default\.script[[:space:]]*=' "$1" || true; }
ours_is_default() { [[ $1 =~ =[[:space:]]*[\"\'](/etc/xen/scripts/)?vif-firewall[\"\'] ]]; }
default_script_of() { sed -E 's/^[^=]*=[[:space:]]*//; s/[[:space:]]*(#.*)?$//' <<<"$1"; }

# Before anything is installed: --default does not take over another default script unasked.
refuse_other_default() {
  local f=$ROOT$XLCONF last
  [[ -f $f ]] || return 0
  last=$(active_default_lines "$f" | tail -n 1)
  [[ -z $last ]] || ours_is_default "$last" || ((force)) || die "$XLCONF makes $(default_script_of "$last") the script of every vif that names none:
  $last
--default would replace it with vif-firewall (that line commented out; --uninstall restores it).
Give --default --force to do that, or name script=vif-firewall only in the vifs that should use it."
}

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
  if ours_is_default "$last"; then
    say "$XLCONF already sets vif.default.script to vif-firewall: unchanged"
    return
  fi
  if [[ -n $last ]]; then say "replaced the default script $(default_script_of "$last") in $XLCONF (its line is now a comment)"; fi
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
  if ((default)); then refuse_other_default; fi
  make_dir "$(dirname "$MANIFEST")"
  trap save_manifest EXIT # also when a later step fails: --uninstall must know what was done
  make_dir "$(dirname "$PROGRAM")"
  install -m 0755 "$from" "$ROOT$PROGRAM.new"
  mv -f "$ROOT$PROGRAM.new" "$ROOT$PROGRAM" # atomic: a hotplug call running now sees the old or the new file
  record "file $PROGRAM"
  say "installed $PROGRAM ($( ((standalone)) && echo "standalone executable" || echo "bundle, for Node.js >= 18.19"))"
  # Relative within /usr, absolute from /etc, as Debian policy has it; a hook installed by
  # an older install.sh (the program itself, in /etc) is replaced by the symlink in one rename.
  symlink "../lib/vif-firewall/vif-firewall" "$COMMAND"
  symlink "$PROGRAM" "$HOOK"
  say "linked $COMMAND (the command) and $HOOK (what libxl runs) to it"

  local page section
  for page in "$SRC"/docs/man/*.[0-9]; do
    section=${page##*.}
    make_dir "$MANDIR/man$section"
    gzip -9n <"$page" >"$ROOT$MANDIR/man$section/${page##*/}.gz"
    chmod 0644 "$ROOT$MANDIR/man$section/${page##*/}.gz"
    record "file $MANDIR/man$section/${page##*/}.gz"
  done
  say "installed the manual pages vif-firewall(8) and vif-firewall.conf(5)"

  if [[ -e $ROOT$CONF ]]; then
    say "kept $CONF as it is"
  else
    install -m 0644 "$SRC/packaging/vif-firewall.conf" "$ROOT$CONF"
    record "conf $CONF"
    record "confsum $(sum "$ROOT$CONF")"
    say "wrote the example $CONF (all comments: the defaults apply)"
  fi

  local unit name target
  make_dir "$UNITDIR"
  for unit in "$SRC"/packaging/*.service; do
    name=${unit##*/}
    install -m 0644 "$unit" "$ROOT$UNITDIR/$name"
    record "file $UNITDIR/$name"
    # What `systemctl enable` does: a link in each WantedBy= target's .wants directory.
    for target in $(sed -n '/^\[Install\]/,/^\[/s/^WantedBy=//p' "$unit"); do
      make_dir "$UNITDIR/$target.wants"
      if [[ ! -L $ROOT$UNITDIR/$target.wants/$name ]]; then
        ln -s "$UNITDIR/$name" "$ROOT$UNITDIR/$target.wants/$name"
        record "link $UNITDIR/$target.wants/$name"
      fi
    done
    say "installed $name$(grep -q '^\[Install\]' "$unit" && echo ", enabled")"
  done

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
