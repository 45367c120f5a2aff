package nextcloud

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// adminsSpaceSQL is a space whose admin group holds the first admin (an address in
// capitals), a treasurer (an address) and a former admin, now disabled; a member has
// an address but is no admin, and a second admin never gave one. oc_group_user is not
// among the recorded tables: it is created here as Nextcloud's migrations create it.
const adminsSpaceSQL = `
CREATE TABLE oc_group_user (gid varchar(64) NOT NULL DEFAULT '', uid varchar(64) NOT NULL DEFAULT '',
	PRIMARY KEY (gid, uid));
INSERT INTO oc_users (uid, uid_lower) VALUES ('admin', 'admin'), ('tresorier', 'tresorier'),
	('ancien', 'ancien'), ('membre', 'membre'), ('second', 'second');
INSERT INTO oc_group_user (gid, uid) VALUES ('admin', 'admin'), ('admin', 'tresorier'), ('admin', 'ancien'),
	('admin', 'second'), ('membres', 'membre');
INSERT INTO oc_preferences (userid, appid, configkey, configvalue) VALUES
	('admin', 'settings', 'email', 'Contact@Amis.example'), ('tresorier', 'settings', 'email', 'compta@amis.example'),
	('ancien', 'settings', 'email', 'ancien@amis.example'), ('ancien', 'core', 'enabled', 'false'),
	('membre', 'settings', 'email', 'membre@amis.example'), ('second', 'settings', 'email', '');
`

func TestAdminEmailsOnNextcloudTables(t *testing.T) {
	schemas, err := filepath.Glob(filepath.Join("testdata", "nextcloud-schema", "*.sql"))
	require.NoError(t, err)
	require.NotEmpty(t, schemas)
	for _, path := range schemas {
		schema := filepath.Base(path)
		t.Run("the enabled admins with an address, on the tables of Nextcloud "+schema[:len(schema)-len(".sql")], func(t *testing.T) {
			d, run := newTestOcc(t)
			slug := nextcloudSpace(t, d, schema, adminsSpaceSQL)
			addrs, err := d.AdminEmails(t.Context(), slug)
			require.NoError(t, err)
			assert.Equal(t, []string{"compta@amis.example", "contact@amis.example"}, addrs)
			for _, c := range run.commands {
				assert.NotContains(t, c.Args, "user:list", "read without starting PHP: it works in maintenance")
			}
		})
	}
}
