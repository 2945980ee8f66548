package bench

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes where the suite ran.
type Machine struct {
	CPUs        int
	CPUModel    string
	MemoryBytes uint64
	Kernel      string
	GoVersion   string
	MariaDB     string
	LoadAvg     string // at the start
	LoadAvgEnd  string
}

// ReadMachine reads the machine's description from /proc.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvg: readLoadAvg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if kb := procField("/proc/meminfo", "MemTotal"); kb > 0 {
		m.MemoryBytes = kb << 10
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if out, err := exec.Command(filepath.Join(dir, "mariadbd"), "--version").Output(); err == nil {
			m.MariaDB = strings.TrimSpace(string(out))
			break
		}
	}
	return m
}

func readLoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// procField reads a "Name: value kB" line of a /proc status-like file, in
// kB (0 when absent).
func procField(path, name string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			return 0
		}
		n, _ := strconv.ParseUint(fields[0], 10, 64)
		return n
	}
	return 0
}

// ProcMem is a process's memory as the kernel sees it.
type ProcMem struct {
	RSS, RSSAnon, RSSFile, HWM uint64 // bytes
}

// ReadProcMem reads /proc/<pid>/status ("self" for this process).
func ReadProcMem(pid string) ProcMem {
	p := filepath.Join("/proc", pid, "status")
	return ProcMem{
		RSS:     procField(p, "VmRSS") << 10,
		RSSAnon: procField(p, "RssAnon") << 10,
		RSSFile: procField(p, "RssFile") << 10,
		HWM:     procField(p, "VmHWM") << 10,
	}
}

// DiskSync is the latency of fdatasync on the suite's directory: bbolt
// calls it twice per commit, so it bounds how fast a live change can be
// durable.
type DiskSync struct {
	Samples       int
	P50, P99, Max time.Duration
}

// MeasureDiskSync times n small write+fdatasync pairs in dir.
func MeasureDiskSync(dir string, n int) (*DiskSync, error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	for i := range n {
		if _, err := f.WriteAt(page, int64(i%64)*4096); err != nil {
			return nil, err
		}
		t := time.Now()
		if err := fdatasync(f); err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t))
		time.Sleep(2 * time.Millisecond)
	}
	s := Summarize(lat)
	return &DiskSync{Samples: n, P50: s.P50, P99: s.P99, Max: s.Max}, nil
}
