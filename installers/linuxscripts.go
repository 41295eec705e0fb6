package installers

import "strings"

// The maintainer scripts of the deb and the rpm. Both ship the systemd
// unit as a file of the package (@UNITDIR@/@UNIT@) and enable it without
// needing a running systemd: with systemctl where the system has it (it
// works in an image build and a chroot), else with the link systemctl
// would make. Where systemd runs, the service is (re)started. A failed
// start never fails the package operation.
//
// Upgrades keep the agent running. dpkg runs the old prerm, then the new
// postinst; rpm runs the new %post *before* the old %preun and %postun. So
// only a removal ($1 remove/0) stops and disables the service, and the
// new package's postinstall restarts it on the new binary.

// scriptCommon enables the unit and starts it where systemd runs. It also
// removes what the first deb left behind: a unit written into
// /etc/systemd/system by `anchorwatch agent install` (it would shadow the
// packaged one) and, where that ran without systemd, a SysV script and
// its rc links.
const scriptCommon = `unit=@UNIT@
wants=/etc/systemd/system/multi-user.target.wants
legacy=/etc/systemd/system/$unit
if [ -f "$legacy" ] && [ ! -L "$legacy" ] && grep -q '^ExecStart=/usr/bin/anchorwatch ' "$legacy"; then
	rm -f "$legacy"
	if [ -L "$wants/$unit" ] && [ "$(readlink "$wants/$unit")" = "$legacy" ]; then rm -f "$wants/$unit"; fi
fi
if [ -f /etc/init.d/anchorwatch-agent ] && { [ ! -s /etc/init.d/anchorwatch-agent ] || grep -q anchorwatch /etc/init.d/anchorwatch-agent; }; then
	rm -f /etc/init.d/anchorwatch-agent /etc/rc[0-6S].d/[SK][0-9][0-9]anchorwatch-agent
fi
if command -v systemctl >/dev/null 2>&1; then
	systemctl enable "$unit" >/dev/null 2>&1 || echo "anchorwatch: systemctl enable $unit failed (masked?); the agent does not start at boot" >&2
else
	mkdir -p "$wants"
	ln -sf "@UNITDIR@/$unit" "$wants/$unit"
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl restart "$unit" || echo "anchorwatch: the agent did not start; see: systemctl status $unit" >&2
else
	echo "anchorwatch: systemd is not running here (an image build or a container): the agent service is enabled and starts at the next boot" >&2
fi
`

// scriptStop stops and disables the service on removal.
const scriptStop = `	unit=@UNIT@
	if [ -d /run/systemd/system ]; then systemctl stop "$unit" >/dev/null 2>&1 || true; fi
	if command -v systemctl >/dev/null 2>&1; then systemctl disable "$unit" >/dev/null 2>&1 || true; fi
	rm -f "/etc/systemd/system/multi-user.target.wants/$unit"
`

const debPostinst = `#!/bin/sh
# anchorwatch: enable the agent service; (re)start it where systemd runs.
set -e
case "$1" in
configure|abort-upgrade|abort-remove|abort-deconfigure) ;;
*) exit 0 ;;
esac
` + scriptCommon + `exit 0
`

const debPrerm = `#!/bin/sh
# anchorwatch: stop and disable the agent service on removal; on upgrade
# the new postinst restarts it.
set -e
case "$1" in
remove|deconfigure)
` + scriptStop + `	;;
esac
exit 0
`

const debPostrm = `#!/bin/sh
# anchorwatch: on purge, remove the agent's state (node key, spool, last
# policy); dpkg removes the config files itself.
set -e
case "$1" in
purge)
	rm -rf @STATEDIR@
	rm -f "/etc/systemd/system/multi-user.target.wants/@UNIT@"
	rmdir @CONFIGDIR@ 2>/dev/null || true
	;;
remove)
	if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
	;;
esac
exit 0
`

const rpmPost = `#!/bin/sh
# anchorwatch %post ($1: 1 install, 2 upgrade): enable the agent service;
# (re)start it where systemd runs, on the new binary.
` + scriptCommon + `exit 0
`

const rpmPreun = `#!/bin/sh
# anchorwatch %preun ($1: 0 erase, 1 upgrade). On upgrade RPM runs this,
# the old package's script, after the new %post started the new agent:
# stopping here would leave it stopped, so only an erase stops it.
if [ "$1" = 0 ]; then
` + scriptStop + `fi
exit 0
`

const rpmPostun = `#!/bin/sh
# anchorwatch %postun ($1: 0 erase, 1 upgrade). The agent's state stays
# (rpm has no purge): remove @STATEDIR@ by hand to forget the node key.
if [ "$1" = 0 ] && [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
exit 0
`

// expandScript fills in the placeholders of a script.
func expandScript(s, unitDir string) string {
	return strings.NewReplacer("@UNIT@", UnitName, "@UNITDIR@", unitDir,
		"@STATEDIR@", StateDir, "@CONFIGDIR@", LinuxConfigDir).Replace(s)
}
