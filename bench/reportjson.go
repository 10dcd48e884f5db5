package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// maxReportBytes caps a report read back for compare: a run of a few
// thousand samples is well under a megabyte.
const maxReportBytes = 256 << 20

// WriteJSONFile writes the report with every sample, atomically.
func WriteJSONFile(path string, r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(data, '\n'))
}

// ReadReport loads a report written by WriteJSONFile (or -o json).
func ReadReport(path string) (*Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxReportBytes {
		return nil, fmt.Errorf("%s: %d bytes is not a vmctl bench report (more than %d MiB)", path, st.Size(), maxReportBytes>>20)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not a vmctl bench overhead report: %w", path, err)
	}
	if r.Version != ReportVersion {
		return nil, fmt.Errorf("%s: report version %d, this vmctl reads version %d: rerun vmctl bench overhead -o json with this version", path, r.Version, ReportVersion)
	}
	return &r, nil
}

// writeAtomic writes data next to path and renames it into place, so a
// reader never sees half a file.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
