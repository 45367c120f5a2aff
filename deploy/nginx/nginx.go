// Package nginx holds the configuration of the web nodes' nginx, for the operators who
// include it (deploy/nextcloud.md) and for the tests that run it: deactivated.conf
// sends the URLs of deactivated spaces to their page, space.conf serves the spaces.
package nginx

import _ "embed"

// Deactivated is deactivated.conf, for the http block of the web nodes. It includes
// the map of deactivated spaces at DeactivatedMap.
//
//go:embed deactivated.conf
var Deactivated string

// Space is space.conf, for the server block of the spaces. Its paths are ConfigRoot and
// DataRoot, and php-fpm is the upstream named PHPUpstream.
//
//go:embed space.conf
var Space string

// The defaults the files name, which a web node laid out otherwise (or a test) replaces.
const (
	DeactivatedMap = "/etc/nginx/jardinier/deactivated-spaces.map"
	ConfigRoot     = "/srv/nextcloud/config"
	DataRoot       = "/srv/nextcloud/data"
	PHPUpstream    = "jardinier_php"
)
