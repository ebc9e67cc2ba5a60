package overlay

import "golang.org/x/sys/unix"

// Two formats say "this file was deleted" between image layers, and mini
// turns one into the other. In a layer tar (the OCI image spec's "layer
// changeset", image-spec/layer.md) a deletion is an empty file whose name
// has a prefix; on disk, overlayfs reads its own markers
// (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
// directories"). ApplyLayer (unpack.go) goes from tar to disk; Diff
// (diff.go) from a container's upper directory back to a tar.
const (
	// WhiteoutPrefix starts a tar entry that deletes NAME from the layers
	// below: ".wh.NAME". On disk it becomes a whiteout: a character device
	// 0:0 named NAME.
	WhiteoutPrefix = ".wh."
	// OpaqueWhiteout, inside a directory of a tar, says that nothing of the
	// layers below shows through that directory. On disk it becomes an
	// xattr of the directory: overlay.opaque = "y".
	OpaqueWhiteout = WhiteoutPrefix + WhiteoutPrefix + ".opq"
	// whiteoutMeta starts the names AUFS kept for itself (.wh..wh.plnk,
	// .wh..wh.aufs); a tar may still carry them, and they mean nothing here.
	whiteoutMeta = WhiteoutPrefix + WhiteoutPrefix
)

// The opaque marker's xattr, in the two namespaces overlayfs reads it from:
// trusted.* by default, user.* when mounted with "userxattr" (Linux 5.11),
// as step 8 always mounts it, in the container's user namespace. Only root
// of the initial user namespace may set trusted.* xattrs.
const (
	opaqueTrusted = "trusted.overlay.opaque"
	opaqueUser    = "user.overlay.opaque"
)

// whiteoutDev is the device number of a whiteout: 0:0. The kernel lets any
// user make a character device with it (Linux 5.8, vfs_mknod's is_whiteout),
// so rootless runs can make whiteouts too.
var whiteoutDev = int(unix.Mkdev(0, 0))
