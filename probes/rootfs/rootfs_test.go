package rootfs

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestExecutableIsAValidELF parses each executable as the kernel would see it: one loadable,
// executable segment that holds the entry point and the whole file.
func TestExecutableIsAValidELF(t *testing.T) {
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, machine := range machines {
		t.Run(arch, func(t *testing.T) {
			b, err := Executable(arch)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 256 {
				t.Errorf("%d bytes, want a tiny executable", len(b))
			}
			f, err := elf.NewFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Type != elf.ET_EXEC || f.Machine != machine || f.OSABI != elf.ELFOSABI_NONE {
				t.Fatalf("header %+v", f.FileHeader)
			}
			if len(f.Progs) != 1 {
				t.Fatalf("%d program headers, want 1", len(f.Progs))
			}
			p := f.Progs[0]
			if p.Type != elf.PT_LOAD || p.Flags != elf.PF_R|elf.PF_X || p.Off != 0 || p.Filesz != uint64(len(b)) || p.Vaddr%p.Align != p.Off%p.Align {
				t.Fatalf("program header %+v", p.ProgHeader)
			}
			if f.Entry < p.Vaddr+64+56 || f.Entry >= p.Vaddr+p.Filesz {
				t.Fatalf("entry %#x outside the code", f.Entry)
			}
		})
	}
	if _, err := Executable("riscv64"); err == nil {
		t.Error("an unknown architecture must be refused")
	}
}

// TestExecutableExitsZero runs the executable built for this machine.
func TestExecutableExitsZero(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the executable is for Linux")
	}
	b, err := Executable(runtime.GOARCH)
	if err != nil {
		t.Skipf("no executable for %s: %v", runtime.GOARCH, err)
	}
	path := filepath.Join(t.TempDir(), ExecutableName)
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		t.Fatalf("running it: %v (output %q)", err, out)
	}
	if len(out) != 0 {
		t.Errorf("printed %q, want nothing", out)
	}
}

// TestTar checks the archive's entries and that it is the same bytes every time.
func TestTar(t *testing.T) {
	b, err := Tar("amd64")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := Tar("amd64"); !bytes.Equal(b, again) {
		t.Error("two archives differ")
	}
	if len(b) > 4096 {
		t.Errorf("%d bytes, want a few KB at most", len(b))
	}
	tr := tar.NewReader(bytes.NewReader(b))
	got := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
	}
	if h := got["etc/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("no etc/ directory: %v", got)
	}
	if h := got[ExecutableName]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("no executable %s: %+v", ExecutableName, h)
	}
}
