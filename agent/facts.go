package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/anchorwatch/anchorwatch/api"
	"github.com/anchorwatch/anchorwatch/stores/fsroot"
)

// Facts gathers the host's identity: machine id, hostname, OS and
// version, and the addresses of its interfaces (the collector matches them
// against network evidence to find unmanaged devices). The machine id and
// OS version are read under root; stateDir keeps a generated id where the
// platform has none.
func Facts(root, stateDir, version string) api.HostFacts {
	h := api.HostFacts{
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		AgentVersion: version,
		MachineID:    machineID(root, stateDir),
		OSVersion:    osVersion(root),
	}
	h.Hostname, _ = os.Hostname()
	if len(h.Hostname) > 255 {
		h.Hostname = h.Hostname[:255]
	}
	if h.Hostname == "" {
		// The collector requires a name: fall back to the machine id.
		h.Hostname = "host-" + h.MachineID[:min(12, len(h.MachineID))]
	}
	h.IPs, h.MACs = addresses()
	return h
}

func machineID(root, stateDir string) string {
	if id := platformMachineID(root); id != "" {
		return id
	}
	// No platform id: keep one of our own in the state directory.
	p := filepath.Join(stateDir, "host-id")
	if b, err := fsroot.ReadFile(p, fsroot.Want{Max: maxSmallFile}); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b))
	}
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	id := hex.EncodeToString(buf)
	_ = os.MkdirAll(stateDir, 0o700)
	_ = fsroot.WriteFileAtomic(p, []byte(id+"\n"), 0o600)
	return id
}

func osVersion(root string) string {
	if v := platformOSVersion(root); v != "" {
		return v
	}
	return runtime.GOOS
}

// addresses lists the unicast IPs and the MACs of the interfaces that are
// up, loopback excluded, sorted.
func addresses() (ips, macs []string) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, nil
	}
	seenMAC := map[string]bool{}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		// EUI-48 and EUI-64 only: the collector matches them against
		// network evidence (an InfiniBand address is neither).
		hw := ifc.HardwareAddr
		if m := hw.String(); (len(hw) == 6 || len(hw) == 8) && !seenMAC[m] {
			seenMAC[m] = true
			macs = append(macs, strings.ToLower(m))
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip == nil || ip.IsLoopback() || ip.IsLinkLocalMulticast() {
				continue
			}
			ips = append(ips, ip.String())
		}
	}
	sort.Strings(ips)
	sort.Strings(macs)
	// The collector takes at most api.MaxAddrs of each.
	if len(ips) > api.MaxAddrs {
		ips = ips[:api.MaxAddrs]
	}
	if len(macs) > api.MaxAddrs {
		macs = macs[:api.MaxAddrs]
	}
	return ips, macs
}
