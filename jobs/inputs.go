package jobs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// inputFile is one matched input, named relative to the resolved inputs
// directory so it means the same at /mnt/inputs in a guest.
type inputFile struct {
	rel  string
	size int64
}

// inputsRoot resolves Spec.Inputs and checks it is a directory.
func (s *Spec) inputsRoot() (string, *FieldError) {
	if s.Inputs == "" {
		return "", &FieldError{Field: "inputs", Msg: fmt.Sprintf("required when partition.by is %q: set it to the host directory holding the input files", s.Partition.By)}
	}
	root, err := filepath.EvalSymlinks(s.Inputs)
	if err != nil {
		return "", &FieldError{Field: "inputs", Msg: fmt.Sprintf("%s: %v: give an existing directory (relative paths start at the spec's directory %s)", s.Inputs, unwrapPath(err), s.Dir)}
	}
	fi, err := os.Stat(root)
	if err != nil {
		return "", &FieldError{Field: "inputs", Msg: err.Error()}
	}
	if !fi.IsDir() {
		return "", &FieldError{Field: "inputs", Msg: fmt.Sprintf("%s is not a directory: inputs is the directory shared into each VM; put the files in one and match them with partition.glob", s.Inputs)}
	}
	return root, nil
}

// inputFiles lists the regular files the glob matches, sorted and without
// duplicates. Symlinks are followed on the host, and a file that resolves
// outside the inputs directory is refused: a guest sees only that
// directory, and a native run must not read what a VM could not.
func (s *Spec) inputFiles() ([]inputFile, *FieldError) {
	root, ferr := s.inputsRoot()
	if ferr != nil {
		return nil, ferr
	}
	glob := s.Partition.Glob
	if glob == "" {
		glob = DefaultGlob
	}
	if ferr := checkGlob(glob); ferr != nil {
		return nil, ferr
	}
	matches, err := filepath.Glob(filepath.Join(s.Inputs, glob))
	if err != nil {
		return nil, &FieldError{Field: "partition.glob", Msg: fmt.Sprintf("%q: %v", glob, err)}
	}
	seen := map[string]bool{}
	var files []inputFile
	for _, m := range matches {
		name, _ := filepath.Rel(s.Inputs, m)
		resolved, err := filepath.EvalSymlinks(m)
		if err != nil {
			return nil, &FieldError{Field: "inputs", Msg: fmt.Sprintf("input %s: %v (a dangling symlink?)", name, unwrapPath(err))}
		}
		rel, err := filepath.Rel(root, resolved)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, &FieldError{Field: "inputs", Msg: fmt.Sprintf("input %s resolves to %s, outside the inputs directory %s: VMs see only that directory; copy the file in, or point inputs at a directory that holds it", name, resolved, root)}
		}
		fi, err := os.Stat(resolved)
		if err != nil {
			return nil, &FieldError{Field: "inputs", Msg: fmt.Sprintf("input %s: %v", name, unwrapPath(err))}
		}
		switch {
		case fi.IsDir():
			continue // the glob does not recurse; directories are not inputs
		case !fi.Mode().IsRegular():
			return nil, &FieldError{Field: "partition.glob", Msg: fmt.Sprintf("input %s is a %s, not a regular file: narrow the glob to leave it out", name, fi.Mode().Type())}
		}
		if !seen[rel] {
			seen[rel] = true
			files = append(files, inputFile{rel: rel, size: fi.Size()})
		}
	}
	if len(files) == 0 {
		return nil, &FieldError{Field: "partition.glob", Msg: fmt.Sprintf("%q matches no regular file in %s: check the pattern (it is relative to inputs and does not descend into directories)", glob, s.Inputs)}
	}
	slices.SortFunc(files, func(a, b inputFile) int { return strings.Compare(a.rel, b.rel) })
	return files, nil
}

// checkGlob keeps the pattern inside the inputs directory; symlinks are
// checked per file.
func checkGlob(glob string) *FieldError {
	if _, err := filepath.Match(glob, ""); err != nil {
		return &FieldError{Field: "partition.glob", Msg: fmt.Sprintf("%q is not a valid pattern: %v", glob, err)}
	}
	clean := filepath.Clean(glob)
	if filepath.IsAbs(glob) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return &FieldError{Field: "partition.glob", Msg: fmt.Sprintf("%q leaves the inputs directory: the glob is relative to inputs; change inputs instead", glob)}
	}
	return nil
}

// unwrapPath drops the path from a *fs.PathError: messages name the file
// themselves.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
