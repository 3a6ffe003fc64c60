// Package rootfs makes the few bytes the workload streams into its volume: an etc/ directory
// (houdini bind-mounts etc/resolv.conf into a rootfs and fails without it) and a tiny static
// Linux executable that exits 0, for the worker's CPU architecture. Everything is produced here,
// from the instructions below: no host path, no download, no toolchain.
package rootfs

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"time"
)

// ExecutableName is the executable's file name at the root of the volume; the container runs
// it as "/" + ExecutableName.
const ExecutableName = "deepprobe-true"

// exitZero is the machine code of `exit(0)` for each architecture, as a Linux system call.
var exitZero = map[string]struct {
	machine uint16 // ELF e_machine
	code    []byte
}{
	// x86-64:  xor edi, edi        ; status 0
	//          mov eax, 60         ; SYS_exit
	//          syscall
	"amd64": {machine: 62, code: []byte{
		0x31, 0xff,
		0xb8, 0x3c, 0x00, 0x00, 0x00,
		0x0f, 0x05,
	}},
	// AArch64: movz x0, #0         ; status 0          (0xd2800000)
	//          movz x8, #93        ; SYS_exit          (0xd2800ba8)
	//          svc  #0                                 (0xd4000001)
	// Each instruction is a little-endian 32-bit word.
	"arm64": {machine: 183, code: []byte{
		0x00, 0x00, 0x80, 0xd2,
		0xa8, 0x0b, 0x80, 0xd2,
		0x01, 0x00, 0x00, 0xd4,
	}},
}

// Architectures returns the GOARCH names Executable can build for, sorted.
func Architectures() []string {
	out := make([]string, 0, len(exitZero))
	for a := range exitZero {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// ELF64 layout: one header, one program header, then the code, all in one loadable segment
// that maps the whole file at loadAddress.
const (
	elfHeaderSize     = 64
	programHeaderSize = 56
	loadAddress       = 0x400000
	// segmentAlign is 64 KiB, a multiple of every page size Linux uses on both architectures.
	segmentAlign = 0x10000
)

// Executable returns a static Linux ELF executable for goarch ("amd64" or "arm64") that exits
// with status 0 and does nothing else. It is 133 bytes on amd64 and 132 on arm64.
func Executable(goarch string) ([]byte, error) {
	arch, ok := exitZero[goarch]
	if !ok {
		return nil, fmt.Errorf("no executable for architecture %q (have %v)", goarch, Architectures())
	}
	codeOffset := uint64(elfHeaderSize + programHeaderSize)
	size := codeOffset + uint64(len(arch.code))
	le := binary.LittleEndian
	var b []byte

	// ELF header.
	b = append(b, 0x7f, 'E', 'L', 'F', // magic
		2,                      // EI_CLASS: 64-bit
		1,                      // EI_DATA: little-endian
		1,                      // EI_VERSION: current
		0,                      // EI_OSABI: System V
		0, 0, 0, 0, 0, 0, 0, 0) // EI_ABIVERSION and padding, to 16 bytes
	b = le.AppendUint16(b, 2)                      // e_type: ET_EXEC
	b = le.AppendUint16(b, arch.machine)           // e_machine
	b = le.AppendUint32(b, 1)                      // e_version
	b = le.AppendUint64(b, loadAddress+codeOffset) // e_entry: the first instruction
	b = le.AppendUint64(b, elfHeaderSize)          // e_phoff: right after this header
	b = le.AppendUint64(b, 0)                      // e_shoff: no section headers
	b = le.AppendUint32(b, 0)                      // e_flags
	b = le.AppendUint16(b, elfHeaderSize)          // e_ehsize
	b = le.AppendUint16(b, programHeaderSize)      // e_phentsize
	b = le.AppendUint16(b, 1)                      // e_phnum
	b = le.AppendUint16(b, 64)                     // e_shentsize
	b = le.AppendUint16(b, 0)                      // e_shnum
	b = le.AppendUint16(b, 0)                      // e_shstrndx

	// Program header: PT_LOAD the whole file, readable and executable.
	b = le.AppendUint32(b, 1)           // p_type: PT_LOAD
	b = le.AppendUint32(b, 5)           // p_flags: PF_R | PF_X
	b = le.AppendUint64(b, 0)           // p_offset
	b = le.AppendUint64(b, loadAddress) // p_vaddr
	b = le.AppendUint64(b, loadAddress) // p_paddr
	b = le.AppendUint64(b, size)        // p_filesz
	b = le.AppendUint64(b, size)        // p_memsz
	b = le.AppendUint64(b, segmentAlign)

	return append(b, arch.code...), nil
}

// modTime is the fixed modification time of every entry, so that the archive is the same
// bytes on every run.
var modTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Tar returns an uncompressed tar archive of etc/ and the executable for goarch, owned by
// root, ready for Baggageclaim's stream-in with Content-Encoding: raw.
func Tar(goarch string) ([]byte, error) {
	exe, err := Executable(goarch)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		hdr  tar.Header
		body []byte
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755}, nil},
		{tar.Header{Typeflag: tar.TypeReg, Name: ExecutableName, Mode: 0o755, Size: int64(len(exe))}, exe},
	}
	for _, e := range entries {
		e.hdr.ModTime, e.hdr.Format = modTime, tar.FormatUSTAR
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return slices.Clip(buf.Bytes()), nil
}
