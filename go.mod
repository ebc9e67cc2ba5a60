module mini

go 1.22

require (
	github.com/google/go-cmp v0.7.0
	github.com/rogpeppe/go-internal v1.13.1
	github.com/spf13/pflag v1.0.6
	github.com/vishvananda/netlink v1.3.0
	github.com/vishvananda/netns v0.0.5
	golang.org/x/sys v0.30.0
)

require (
	github.com/google/go-containerregistry v0.20.2 // indirect
	golang.org/x/tools v0.22.0 // indirect
)
