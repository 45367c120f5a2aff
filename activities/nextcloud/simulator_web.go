package nextcloud

import (
	"context"
	"fmt"
)

// OpCheckWeb is CheckWeb, as named in InjectFailure and Calls.
const OpCheckWeb = "CheckWeb"

// CheckWeb implements Driver. The simulated web server serves each space as it is: it
// answers for an installed space out of maintenance whose installed version and code
// base are version. InjectFailure(slug, OpCheckWeb, ...) stands for a web server that
// serves the space wrong all the same (stale caches, a broken page).
func (s *Simulator) CheckWeb(ctx context.Context, slug, version string) error {
	s.lock()
	defer s.unlock()
	sp, err := s.enterInstalled(ctx, OpCheckWeb, slug, "version", version)
	if err != nil {
		return err
	}
	switch {
	case sp.Maintenance:
		return fmt.Errorf("web check of %s: status.php: in maintenance", slug)
	case sp.Version != version || sp.CodeVersion != version:
		return fmt.Errorf("web check of %s: status.php: serves %s (installed %s), want %s", slug, sp.CodeVersion, sp.Version, version)
	}
	return nil
}
