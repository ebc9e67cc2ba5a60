package steps

// Cleanup runs the Cleanup hooks of started in reverse order, each with its
// own copy of ctx, and says which failed: a failure is printed and the next
// step is cleaned up all the same. The engine calls it when a run ends; a
// later mini calls it for a run whose mini is gone, or for "mini rm"
// (mini/container), with ctx.Started and the spec as that run left them.
// It returns the first error.
func Cleanup(ctx *Context, started []Step) error {
	var first error
	for i := len(started) - 1; i >= 0; i-- {
		c, ok := started[i].(Cleaner)
		if !ok {
			continue
		}
		if err := c.Cleanup(ctx.For(started[i])); err != nil {
			ctx.Notef("cleanup of step %d (%s): %v", started[i].Number(), started[i].Name(), err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}
