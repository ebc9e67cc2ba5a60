package main

import (
	"fmt"
	"runtime"
)

// version is set at build time by the Makefile (-ldflags -X main.version=...).
var version = "0.1.0-dev"

func versionMain() int {
	fmt.Printf("mini %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, s := range allSteps {
		fmt.Printf("  step %d: %s\n", s.Number(), s.Name())
	}
	return 0
}
