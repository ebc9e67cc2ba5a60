package steps

// OCI is what an OCI runtime config (config.json) asks of a container that
// mini run's flags cannot say: mini create translates the config into a
// Spec and this (mini/oci), and the steps read it, each the part of its
// own mechanism. nil for mini run.
type OCI struct {
}
