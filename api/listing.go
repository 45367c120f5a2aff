package api

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"gorm.io/gorm"

	"jardinier/models"
)

// listCountCap is where the lists of applications and spaces stop counting: the total
// of a page costs at most this many rows, not the whole table (100,000 applications),
// and a moderator reads "plus de 1 000" where the exact figure would tell no more.
const listCountCap = 1000

// listPage is where a page of a list starts: its number, and the position after which
// it reads when it follows a cursor rather than skipping Page-1 pages.
type listPage struct {
	Page  int
	After *listCursor // nil: the page is read with OFFSET from its number
}

// listCursor is a position in a list in newest-first order: the page it opens, and
// the sort key and identifier of the last row of the page before.
type listCursor struct {
	Page int
	At   time.Time
	Key  string
}

// String encodes the cursor for the URL: opaque to clients, stable across filters.
func (c listCursor) String() string {
	raw := strconv.Itoa(c.Page) + "|" + c.At.UTC().Format(time.RFC3339Nano) + "|" + c.Key
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// errBadCursor answers a cursor that is not one the list gave out.
var errBadCursor = models.FieldError("cursor", "curseur invalide : reprenez la liste à sa première page et suivez next_cursor")

// parseCursor decodes a cursor; validKey checks its identifier for the list it is for.
func parseCursor(s string, validKey func(string) bool) (*listCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	parts := strings.SplitN(string(raw), "|", 3)
	if len(parts) != 3 {
		return nil, errBadCursor
	}
	page, err := strconv.Atoi(parts[0])
	if err != nil || page < 2 || page > maxPage {
		return nil, errBadCursor
	}
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil || !validKey(parts[2]) {
		return nil, errBadCursor
	}
	return &listCursor{Page: page, At: at, Key: parts[2]}, nil
}

// maxPage bounds ?page= and the page a cursor opens.
const maxPage = 100_000

// listPageParam reads ?page= or ?cursor= (not both): validKey checks the identifier a
// cursor carries for the list it is for.
func listPageParam(c *gin.Context, validKey func(string) bool) (listPage, error) {
	cursor := c.Query("cursor")
	if cursor == "" {
		page, err := pageParam(c)
		return listPage{Page: page}, err
	}
	if c.Query("page") != "" {
		return listPage{}, models.FieldError("cursor", "ne va pas avec page : le curseur dit déjà quelle page il ouvre")
	}
	after, err := parseCursor(cursor, validKey)
	if err != nil {
		return listPage{}, err
	}
	return listPage{Page: after.Page, After: after}, nil
}

// countUpTo counts the rows of q, stopping at listCountCap: capped says there are more.
func countUpTo(db, q *gorm.DB) (n int64, capped bool, err error) {
	if err := db.Table("(?) AS capped", q.Select("1").Limit(listCountCap+1)).Count(&n).Error; err != nil {
		return 0, false, err
	}
	if n > listCountCap {
		return listCountCap, true, nil
	}
	return n, false, nil
}

// readPage reads one page of q into rows, in the order given (newest first), from the
// page's cursor through after (the keyset condition of the order), or else with
// OFFSET. It reads one row more than a page to know whether another follows, and
// returns the cursor of that next page, built by keyOf from the page's last row.
func readPage[T any](q *gorm.DB, lp listPage, order string, after func(*gorm.DB, *listCursor) *gorm.DB,
	keyOf func(*T) (time.Time, string), rows *[]T) (next string, err error) {
	q = q.Order(order).Limit(pageSize + 1)
	if lp.After != nil {
		q = after(q, lp.After)
	} else if lp.Page > 1 {
		q = q.Offset((lp.Page - 1) * pageSize)
	}
	if err := q.Find(rows).Error; err != nil {
		return "", err
	}
	if len(*rows) <= pageSize {
		return "", nil
	}
	*rows = (*rows)[:pageSize]
	at, key := keyOf(&(*rows)[pageSize-1])
	return listCursor{Page: max(lp.Page, 1) + 1, At: at, Key: key}.String(), nil
}
