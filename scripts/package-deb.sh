#!/usr/bin/env bash
# Builds build/vif-firewall_<version>_all.deb (npm run package:deb) from dist/vif-firewall as it
# is (npm run build makes it; CI checks it is what src/ builds to), with dpkg-deb. Installs:
#   /etc/xen/vif-firewall.conf                  the commented example (the defaults apply)
#   /etc/xen/scripts/vif-firewall               the bundle (Depends: nodejs (>= 18.19))
#   /lib/systemd/system/vif-firewall-sweep.service   `vif-firewall sweep` at boot, enabled by
#                                               postinst as dh_installsystemd would do it
#   /usr/share/doc/vif-firewall/{README.md,copyright,changelog.gz}
# Both files in /etc are conffiles (Debian policy, and how xen-utils-common ships vif-bridge):
# dpkg keeps an admin's change on upgrade, `dpkg -r` leaves them, `dpkg --purge` removes them.
# DEB_MAINTAINER="Name <address>" sets the Maintainer field. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v dpkg-deb >/dev/null || { echo "package:deb: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }
[[ -f dist/vif-firewall ]] || { echo "package:deb: dist/vif-firewall is missing: npm run build" >&2; exit 1; }

version=$(node -p 'require("./package.json").version')
name=vif-firewall
deb=build/${name}_${version}_all.deb
stage=build/deb/${name}_${version}_all
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/etc/xen/scripts" "$stage/lib/systemd/system" "$stage/usr/share/doc/$name"

install -m 0755 dist/vif-firewall "$stage/etc/xen/scripts/vif-firewall"
install -m 0644 packaging/vif-firewall.conf "$stage/etc/xen/vif-firewall.conf"
install -m 0644 packaging/vif-firewall-sweep.service "$stage/lib/systemd/system/vif-firewall-sweep.service"
install -m 0644 README.md "$stage/usr/share/doc/$name/README.md"
node packaging/deb/copyright.mjs >"$stage/usr/share/doc/$name/copyright"
chmod 0644 "$stage/usr/share/doc/$name/copyright"
install -m 0755 packaging/deb/postinst packaging/deb/postrm "$stage/DEBIAN/"
printf '%s\n' /etc/xen/vif-firewall.conf /etc/xen/scripts/vif-firewall >"$stage/DEBIAN/conffiles"
maintainer=${DEB_MAINTAINER:-vif-firewall developers <vif-firewall@example.org>}
# A native package's changelog: the release, dated by the last commit (the build time outside git).
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
printf '%s (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
  "$name" "$version" "$version" "$maintainer" "$when" | gzip -9n >"$stage/usr/share/doc/$name/changelog.gz"
chmod 0644 "$stage/usr/share/doc/$name/changelog.gz"
(cd "$stage" && find etc lib usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"

cat >"$stage/DEBIAN/control" <<EOF
Package: $name
Version: $version
Architecture: all
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$stage" | cut -f1)
Depends: nodejs (>= 18.19), iptables, nftables, iproute2
Recommends: conntrack, kmod
Section: admin
Priority: optional
Description: per-guest firewall for Xen hosts, as a vif hotplug script
 vif-firewall replaces vif-bridge for the vifs that name it: script=vif-firewall
 in a vif, or vif.default.script in /etc/xen/xl.conf. Before a guest's vif
 joins its bridge, it installs the guest's own iptables and ip6tables chains
 from the "firewall" rules in the guest's xl config, and it removes them when
 the vif goes. A config or rule that cannot be parsed, or rules the kernel
 refuses, keep the guest from starting: nothing is ever bridged unfiltered.
EOF

mkdir -p build
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf build/deb
echo "package:deb: $(dpkg-deb -f "$deb" Package Version Architecture | paste -sd' ')"
echo "$deb"
