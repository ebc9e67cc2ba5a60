// Command mini-image is the part of mini that moves images in and out of
// its store: mini pull, push, load and save run it. See mini/image/transfer.
package main

import (
	"os"

	"mini/mini/image/transfer"
)

func main() {
	os.Exit(transfer.Main(os.Args[1:]))
}
