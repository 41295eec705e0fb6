package installers

import (
	"bytes"
	"debug/macho"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// machoArch names the CPU of a Mach-O slice as Installer's
// hostArchitectures does.
func machoArch(cpu macho.Cpu) (string, error) {
	switch cpu {
	case macho.CpuArm64:
		return "arm64", nil
	case macho.CpuAmd64:
		return "x86_64", nil
	}
	return "", fmt.Errorf("Mach-O CPU %v: want arm64 or amd64 (GOARCH)", cpu)
}

// machoArchs returns the architectures of a macOS executable, thin or
// universal.
func machoArchs(data []byte) ([]string, error) {
	if fat, err := macho.NewFatFile(bytes.NewReader(data)); err == nil {
		var archs []string
		for _, a := range fat.Arches {
			name, err := machoArch(a.Cpu)
			if err != nil {
				return nil, err
			}
			archs = append(archs, name)
		}
		return archs, nil
	}
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, errors.New("not a macOS executable (Mach-O): build it with GOOS=darwin go build ./cmd/anchorwatch")
	}
	if f.Type != macho.TypeExec {
		return nil, fmt.Errorf("Mach-O type %v is not an executable", f.Type)
	}
	name, err := machoArch(f.Cpu)
	if err != nil {
		return nil, err
	}
	return []string{name}, nil
}

// fatAlign is the alignment of each slice in a universal binary (2^14,
// the page size of arm64 macOS), as lipo uses.
const fatAlign = 14

// universal joins thin Mach-O executables of different architectures into
// one universal ("fat") binary: a big-endian header (0xcafebabe, the
// number of slices) and per slice its CPU type and subtype, offset, size
// and alignment; each slice follows unchanged (its code signature, which
// the Go linker adds on arm64, stays valid).
func universal(bins [][]byte) ([]byte, error) {
	type slice struct {
		cpu, sub uint32
		data     []byte
	}
	var slices []slice
	seen := map[macho.Cpu]bool{}
	for _, b := range bins {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return nil, errors.New("universal binary: every input must be a thin Mach-O executable")
		}
		if seen[f.Cpu] {
			return nil, fmt.Errorf("universal binary: two %v executables", f.Cpu)
		}
		if _, err := machoArch(f.Cpu); err != nil {
			return nil, err
		}
		seen[f.Cpu] = true
		slices = append(slices, slice{uint32(f.Cpu), f.SubCpu, b})
	}
	sort.Slice(slices, func(i, j int) bool { return slices[i].cpu < slices[j].cpu })
	out := binary.BigEndian.AppendUint32(nil, macho.MagicFat)
	out = binary.BigEndian.AppendUint32(out, uint32(len(slices)))
	offset := uint32(1 << fatAlign)
	for _, s := range slices {
		out = binary.BigEndian.AppendUint32(out, s.cpu)
		out = binary.BigEndian.AppendUint32(out, s.sub)
		out = binary.BigEndian.AppendUint32(out, offset)
		out = binary.BigEndian.AppendUint32(out, uint32(len(s.data)))
		out = binary.BigEndian.AppendUint32(out, fatAlign)
		offset = alignUp(offset+uint32(len(s.data)), 1<<fatAlign)
	}
	for _, s := range slices {
		out = append(out, make([]byte, alignUp(uint32(len(out)), 1<<fatAlign)-uint32(len(out)))...)
		out = append(out, s.data...)
	}
	return out, nil
}

func alignUp(n, a uint32) uint32 { return (n + a - 1) &^ (a - 1) }
