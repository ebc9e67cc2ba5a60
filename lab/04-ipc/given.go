package ipc

// Given: not part of the exercise. This file is a copy of the parts of
// steps/04-ipc that the lab does not ask you to write (a test keeps it equal
// to mini's).

import (
	"fmt"
	"os"

	"mini/steps"
)

func mkdir(ctx *steps.Context, path string, mode os.FileMode) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil
	}
	ctx.Tracef("mkdir(%q, %#o)", path, mode)
	if err := os.Mkdir(path, mode); err != nil {
		return fmt.Errorf("mkdir %s: %w", path, err)
	}
	return nil
}
