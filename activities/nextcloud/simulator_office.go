package nextcloud

import (
	"context"
	"maps"

	"jardinier/models"
)

// OpConfigureOffice names ConfigureOffice in InjectFailure and Calls.
const OpConfigureOffice = "ConfigureOffice"

// ConfigureOffice implements Driver: the settings go into the space's app
// configuration (simSpace.AppConfig), as the real apps keep them.
func (s *Simulator) ConfigureOffice(ctx context.Context, slug string, office models.OfficeSuite, settings OfficeSettings) error {
	app, _ := settings.appSettings(office)
	return s.change(ctx, OpConfigureOffice, slug, []any{"office_suite", office, "app", app}, func(sp *simSpace) error {
		if err := checkOffice(office, settings); err != nil {
			return err
		}
		app, values := settings.appSettings(office)
		if app == "" {
			return nil
		}
		if sp.AppConfig == nil {
			sp.AppConfig = map[string]map[string]string{}
		}
		if sp.AppConfig[app] == nil {
			sp.AppConfig[app] = map[string]string{}
		}
		maps.Copy(sp.AppConfig[app], values)
		return nil
	})
}

// AppConfig returns a copy of the settings of app in the space slug, as ConfigureOffice
// wrote them; nil if it has none. It is for tests and demonstrations.
func (s *Simulator) AppConfig(slug, app string) map[string]string {
	s.lock()
	defer s.unlock()
	sp := s.hookSpace(slug)
	if sp == nil || sp.AppConfig[app] == nil {
		return nil
	}
	return maps.Clone(sp.AppConfig[app])
}
