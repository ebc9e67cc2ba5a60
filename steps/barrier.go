package steps

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The barrier is a unix(7) socket pair, not a pipe: besides the spec, the
// host can send the child open files through it, as SCM_RIGHTS messages.
// A file the child inherits at clone (Context.PassFile) must exist before
// the child does; one sent at the barrier (Context.SendFile) can be made in
// Attach, from the child itself: step 8 opens the child's own view of its
// layer directories through /proc/PID/root and makes idmapped mounts for
// the child's user namespace, neither of which exists before clone.

// maxFilesPerMessage stays under the kernel's SCM_MAX_FD (253) files a
// message may carry.
const maxFilesPerMessage = 250

// sendSpec writes the spec's JSON on the host's end of the socket, with the
// files as SCM_RIGHTS: each message carries at most maxFilesPerMessage of
// them and at least one byte of the JSON, the last one the rest of it. The
// child reads until EOF, so the JSON needs no framing.
func sendSpec(sock int, data []byte, files []*os.File) error {
	for len(files) > 0 || len(data) > 0 {
		n := min(len(files), maxFilesPerMessage)
		chunk := data
		if n < len(files) && len(data) > 1 {
			chunk = data[:1] // more files follow: keep the rest of the JSON
		}
		var rights []byte
		if n > 0 {
			fds := make([]int, n)
			for i, f := range files[:n] {
				fds[i] = int(f.Fd())
			}
			rights = unix.UnixRights(fds...)
		}
		sent, err := unix.SendmsgN(sock, chunk, rights, nil, 0)
		if err != nil {
			return fmt.Errorf("sendmsg: %w", err)
		}
		files, data = files[n:], data[sent:]
		if n > 0 && len(files) > 0 && len(data) == 0 {
			return errors.New("sendmsg: more files than the spec has bytes to carry them")
		}
	}
	return nil
}

// receiveSpec reads what sendSpec wrote, until the host closes its end: the
// JSON and the files, in the order they were sent. MSG_CMSG_CLOEXEC: the
// files are for the steps, never for the command.
func receiveSpec(sock int) (data []byte, files []int, err error) {
	// A spec is a few KiB: a buffer of 8 touches two pages, where 64 KiB
	// cost the child 16 page faults; a larger spec takes more reads.
	buf := make([]byte, 8<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxFilesPerMessage))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, files, fmt.Errorf("recvmsg: %w", err)
		}
		if flags&unix.MSG_CTRUNC != 0 {
			return nil, files, errors.New("recvmsg: files were cut off (MSG_CTRUNC)")
		}
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, files, fmt.Errorf("recvmsg: %w", err)
			}
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					return nil, files, fmt.Errorf("recvmsg: %w", err)
				}
				files = append(files, fds...)
			}
		}
		if n == 0 && oobn == 0 {
			return data, files, nil
		}
		data = append(data, buf[:n]...)
	}
}
