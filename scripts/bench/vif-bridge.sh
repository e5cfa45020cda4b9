# Sourced by the benchmark's references (scripts/baseline-*.sh): vif-bridge's own steps, the
# same in both, so that they differ only in their firewall.

# online: setup_virtual_bridge_port, set_mtu, add_to_bridge; then tell libxl the vif is up.
attach_and_report() {
  local dev=$1 bridge=$2
  ip link set dev "$dev" down
  ip link set dev "$dev" address fe:ff:ff:ff:ff:ff
  ip addr flush dev "$dev"
  ip link set dev "$dev" mtu "$(cat "/sys/class/net/$bridge/mtu")"
  ip link set dev "$dev" master "$bridge"
  ip link set dev "$dev" up
  xenstore-write "$XENBUS_PATH/hotplug-status" connected
}

# offline: off the bridge (the device may be gone already).
detach() {
  ip link set dev "$1" nomaster 2>/dev/null || true
  ip link set dev "$1" down 2>/dev/null || true
}
