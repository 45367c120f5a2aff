package nextcloud

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"jardinier/models"
)

// ConfigureOffice implements Driver. The settings go in one `occ config:import`, which
// reads them on its standard input, so that the JWT secret is never on a command line
// of the web node. For Collabora, `occ richdocuments:activate-config` then drops what
// the app cached of the previous server's discovery and checks the new one; the app
// asks its server again when a document opens, so a server that does not answer (or a
// release without the command) is only logged.
func (d *Occ) ConfigureOffice(ctx context.Context, slug string, office models.OfficeSuite, settings OfficeSettings) error {
	if err := checkOffice(office, settings); err != nil {
		return err
	}
	if err := d.mustBeInstalled(ctx, slug); err != nil {
		return err
	}
	app, values := settings.appSettings(office)
	if app == "" {
		return nil
	}
	body, err := officeImport(app, values)
	if err != nil {
		return fmt.Errorf("office settings of %s: %w", slug, err)
	}
	cmd := d.occCommand(slug, "config:import")
	cmd.Stdin = body
	if _, err := d.exec(ctx, cmd); err != nil {
		return fmt.Errorf("office settings of %s: %w", slug, occError(err))
	}
	if app == AppCollabora && values[settingCollaboraURL] != "" {
		cctx, cancel := context.WithTimeout(ctx, collaboraCheckTimeout)
		defer cancel()
		if _, err := d.occ(cctx, slug, "richdocuments:activate-config"); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("office settings of %s: %w", slug, ctx.Err())
			}
			d.log.Warn("Collabora settings written, but the server did not answer their check", "slug", slug,
				"error", err)
		}
	}
	return nil
}

// collaboraCheckTimeout bounds the check of the Collabora server: a server that does
// not answer must not hold a provisioning or a switch past its activity's timeout.
const collaboraCheckTimeout = 30 * time.Second

// officeImport is what `occ config:import` reads: the settings of one app.
func officeImport(app string, values map[string]string) ([]byte, error) {
	return json.Marshal(map[string]map[string]map[string]string{"apps": {app: values}})
}
