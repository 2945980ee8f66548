package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// statmPath is where Linux reports the calling process's memory, in pages.
const statmPath = "/proc/self/statm"

// ProcessSample is one reading of the bridge process's figures.
type ProcessSample struct {
	// Resident is the resident set size in bytes (statm field 2).
	Resident uint64
	// Allocated is the total program size in bytes (statm field 1).
	Allocated uint64
	// Shared is the size of resident shared pages in bytes (statm field 3).
	Shared uint64
	// Processes is the number of processes the service runs in: always 1,
	// since every service runs inside the bridge process.
	Processes uint64
}

// ReadProcessSample reads /proc/self/statm and converts its page counts to
// bytes.
func ReadProcessSample() (ProcessSample, error) {
	raw, err := os.ReadFile(statmPath)
	if err != nil {
		return ProcessSample{}, fmt.Errorf("read process memory: %w", err)
	}
	sample, err := parseStatm(string(raw), uint64(os.Getpagesize()))
	if err != nil {
		return ProcessSample{}, fmt.Errorf("parse %s: %w", statmPath, err)
	}
	return sample, nil
}

// parseStatm reads the first three fields of a statm line ("size resident
// shared text lib data dt", in pages) as bytes.
func parseStatm(line string, pageSize uint64) (ProcessSample, error) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return ProcessSample{}, fmt.Errorf("want at least 3 fields, got %q", line)
	}
	var pages [3]uint64
	for i := range pages {
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return ProcessSample{}, fmt.Errorf("field %d: %w", i+1, err)
		}
		pages[i] = n
	}
	return ProcessSample{
		Allocated: pages[0] * pageSize,
		Resident:  pages[1] * pageSize,
		Shared:    pages[2] * pageSize,
		Processes: 1,
	}, nil
}
