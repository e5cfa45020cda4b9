#!/usr/bin/env bash
# Builds build/vif-firewall_<version>_all.deb (npm run package:deb) from dist/vif-firewall as it
# is (npm run build makes it; CI checks it is what src/ builds to), with dpkg-deb. Installs:
#   /usr/lib/vif-firewall/vif-firewall          the bundle (Depends: nodejs (>= 18.19))
#   /usr/sbin/vif-firewall                      symlink: the operator's command
#   /etc/xen/scripts/vif-firewall               symlink: what libxl runs (script=vif-firewall)
#   /etc/xen/vif-firewall.conf                  the commented example (the defaults apply): the
#                                               one conffile
#   /lib/systemd/system/*.service               every packaging/*.service; postinst enables those
#                                               with an [Install] section, as dh_installsystemd would
#   /usr/share/man/man8/vif-firewall.8.gz, /usr/share/man/man5/vif-firewall.conf.5.gz
#   /usr/share/doc/vif-firewall/{README,copyright,changelog.gz}
#   /usr/share/lintian/overrides/vif-firewall   why the repair unit is wanted by nftables.service
#
# Reproducible: the same sources give the same .deb, byte for byte. SOURCE_DATE_EPOCH is the
# date of the newest entry of packaging/changelog; every file's mtime is clamped to it, and
# dpkg-deb sorts the archive and uses it for the ar timestamps.
#
# DEB_MAINTAINER="Name <address>" sets the Maintainer field and the changelog's signatures
# (default: "vif-firewall developers <vif-firewall@example.org>"; set it for a real release).
# Prints the .deb's path last.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC
cd "$(dirname "$0")/.."
die() { echo "package:deb: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (apt-get install dpkg)"
[[ -f dist/vif-firewall ]] || die "dist/vif-firewall is missing: npm run build"

name=vif-firewall
version=$(node -p 'require("./package.json").version')
newest=$(sed -n '1s/^vif-firewall (\([^)]*\)).*/\1/p' packaging/changelog)
[[ $newest == "$version" ]] || die "packaging/changelog starts with version ${newest:-?}, package.json says $version: add a changelog entry"
when=$(sed -n '/^ -- /{s/^ -- .*  //p;q}' packaging/changelog)
[[ -n $when ]] && SOURCE_DATE_EPOCH=$(date -d "$when" +%s) || die "packaging/changelog: cannot read the date \"$when\""
export SOURCE_DATE_EPOCH
maintainer=${DEB_MAINTAINER:-vif-firewall developers <vif-firewall@example.org>}
identity='^[^<>]+ <[^<> ]+@[^<> ]+>$'
[[ $maintainer =~ $identity ]] || die "DEB_MAINTAINER must be \"Name <address>\", not \"$maintainer\""

deb=build/${name}_${version}_all.deb
stage=build/deb/${name}_${version}_all
doc=$stage/usr/share/doc/$name
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/etc/xen/scripts" "$stage/lib/systemd/system" "$stage/usr/lib/$name" "$stage/usr/sbin" \
  "$stage/usr/share/man/man5" "$stage/usr/share/man/man8" "$stage/usr/share/lintian/overrides" "$doc"

install -m 0755 dist/vif-firewall "$stage/usr/lib/$name/vif-firewall"
ln -s "../lib/$name/vif-firewall" "$stage/usr/sbin/vif-firewall"
ln -s "/usr/lib/$name/vif-firewall" "$stage/etc/xen/scripts/vif-firewall"
install -m 0644 packaging/vif-firewall.conf "$stage/etc/xen/vif-firewall.conf"
printf '%s\n' /etc/xen/vif-firewall.conf >"$stage/DEBIAN/conffiles"

enabled=()
for unit in packaging/*.service; do
  install -m 0644 "$unit" "$stage/lib/systemd/system/"
  if grep -q '^\[Install\]' "$unit"; then enabled+=("$(basename "$unit")"); fi
done

gzip -9n <docs/man/vif-firewall.8 >"$stage/usr/share/man/man8/vif-firewall.8.gz"
gzip -9n <docs/man/vif-firewall.conf.5 >"$stage/usr/share/man/man5/vif-firewall.conf.5.gz"
install -m 0644 packaging/README "$doc/README"
install -m 0644 packaging/deb/lintian-overrides "$stage/usr/share/lintian/overrides/$name"
node packaging/deb/copyright.mjs >"$doc/copyright"
sed "s|@MAINTAINER@|$maintainer|" packaging/changelog | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$stage"/usr/share/man/man*/* "$doc"/*

for script in preinst postinst postrm; do
  sed "s|@UNITS@|${enabled[*]}|" "packaging/deb/$script" >"$stage/DEBIAN/$script"
  chmod 0755 "$stage/DEBIAN/$script"
done
(cd "$stage" && find etc lib usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"

# As dpkg-gencontrol counts it: KiB per file, rounded up, and one per directory and symlink.
size=$(find "$stage" -path "$stage/DEBIAN" -prune -o -mindepth 1 -printf '%y %s\n' | awk '{ n += $1 == "f" ? int(($2 + 1023) / 1024) : 1 } END { print n }')
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: all
Maintainer: $maintainer
Installed-Size: $size
Depends: nodejs (>= 18.19), iptables, nftables, ipset, iproute2
Recommends: conntrack, kmod
Enhances: xen-utils-common
Section: admin
Priority: optional
Description: per-guest firewall for Xen hosts, as a vif hotplug script
 vif-firewall replaces vif-bridge for the vifs that name it: script=vif-firewall
 in a vif, or vif.default.script in /etc/xen/xl.conf. Before a guest's vif
 joins its bridge, it installs the guest's own iptables and ip6tables chains
 from the "firewall" rules in the guest's xl config, and anti-spoofing checks
 in the nft bridge table "vif-fw": what a guest sends must carry its own MAC
 address and, when the vif names them, its own IP addresses, and it may not
 answer as a DHCP server or send router advertisements. It removes all of
 it when the vif goes. A config or rule
 that cannot be parsed, or rules the kernel refuses, keep the guest from
 starting: nothing is ever bridged unfiltered.
 .
 The vif-firewall command shows, checks, reloads and sweeps these firewalls.
CONTROL
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

find "$stage" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
mkdir -p build
dpkg-deb --root-owner-group -Zxz --threads-max=1 --build "$stage" "$deb" >/dev/null
rm -rf build/deb
echo "package:deb: $(dpkg-deb -f "$deb" Package Version Architecture | paste -sd' ')"
echo "$deb"
