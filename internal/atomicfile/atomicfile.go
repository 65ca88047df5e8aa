// Package atomicfile replaces files so that a crash or power cut at any
// point leaves either the old or the new content at the path, never a mix
// and never an empty file: the new content goes to a temporary file in the
// same directory, which is fsynced, renamed over the path, and then the
// directory is fsynced so the rename itself is durable.
//
// Temporary files are named "." + base + ".tmp" + random suffix, so
// directory listings that skip dot files never see them; one left behind
// by a crash is garbage that a later write does not depend on.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// WriteFile atomically replaces path with data, with permissions perm.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what write writes, with permissions
// perm. If write or any step fails, path is unchanged and the temporary
// file is removed; the error is write's, or an *os.PathError / *os.LinkError
// naming the step.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				_ = f.Close()
			}
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = write(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	closed = true
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir fsyncs the directory dir, making renames, creations and removals
// of its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	return d.Close()
}
