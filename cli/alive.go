package cli

import "errors"

// alive is /ping's liveness of deepprobe's background part: the goroutine running the
// prober's loop (Prober.Run: the ticker in background mode, a wait otherwise) has not
// returned, and the prober's state can be read. A prober whose lock is never released makes
// Latest, and so /ping, hang: the kubelet counts that as a failure at its timeoutSeconds and
// restarts deepprobe. Nothing here calls Garden or Baggageclaim, and a failing worker never
// makes /ping fail.
func (m *Main) alive() error {
	if !m.proberLoop.Load() {
		return errors.New("the prober's loop is not running")
	}
	_, _ = m.prober.Latest()
	return nil
}
