package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"

	"mini/mini/image"
	overlay "mini/steps/08-overlay"
)

// mini commit and mini build make layers in two processes: this one reads
// the directory (overlay.Diff, the lesson: whiteouts and owners turned
// back into a layer's) and writes the tar into "mini-image put-layer"
// (transfer.PutLayer), which gzips it, unpacks it into the store and
// answers with the layer, as JSON. bin/mini does not link gzip: its tables
// would cost every start of mini, twice per container.

// putDiff makes dir a layer of the store at dataRoot.
func putDiff(dataRoot, dir string, opt overlay.DiffOptions) (*image.Layer, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := overlay.Diff(pw, dir, opt)
		pw.CloseWithError(err)
		done <- err
	}()
	var out bytes.Buffer
	err := imageHelper(pr, &out, nil, "put-layer", "--data-root", dataRoot)
	pr.Close() // a Diff still writing stops
	if derr := <-done; derr != nil {
		return nil, derr // what went wrong first
	}
	if err != nil {
		return nil, err
	}
	var l image.Layer
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		return nil, fmt.Errorf("mini-image put-layer: %w", err)
	}
	return &l, nil
}

// unpackArchive unpacks archive, if it is one, into dir (an open
// directory: fd 3 of "mini-image unpack"), for mini build's ADD.
func unpackArchive(archive, dir *os.File) (bool, error) {
	if _, err := archive.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	err := imageHelper(archive, io.Discard, []*os.File{dir}, "unpack")
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == image.NotArchive {
		return false, nil
	}
	return err == nil, err
}

// imageHelper runs bin/mini-image with args, stdin in, stdout out, and
// files as fds 3 and up. Its error is the line it printed; its warnings
// pass on to mini's stderr.
func imageHelper(in io.Reader, out io.Writer, files []*os.File, args ...string) error {
	path, err := imageToolPath()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr, cmd.ExtraFiles = in, out, &stderr, files
	// It dies with mini (PR_SET_PDEATHSIG, sent when the thread that
	// started it exits: keep this one).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Run()
	var last string
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if strings.HasPrefix(line, "mini: warning: ") {
			fmt.Fprintln(os.Stderr, line)
		} else if line != "" {
			last = strings.TrimPrefix(line, "mini: ")
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 125 && last != "" {
		return errors.New(last)
	}
	return err
}
