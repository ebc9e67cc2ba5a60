package steps

// LookPath finds a command as the container's init does before execve(2):
// in the PATH of env, relative to the calling thread's root. mini exec calls
// it from a thread that has joined the container's mount namespace.
func LookPath(file string, env []string) (string, error) { return lookPath(file, env) }

// ExecCode is the exit code of a command that could not be executed: 127
// when it is not there, 126 when it is there but cannot be executed.
func ExecCode(err error) int { return execCode(err) }
