package api

import (
	"encoding/base64"
	"slices"
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

// listPage is where a page of a list starts: its number, and the position it reads
// from when it follows a cursor rather than skipping Page-1 pages.
type listPage struct {
	Page   int
	Cursor *listCursor // nil: the page is read with OFFSET from its number
}

// listCursor is a position in a list in newest-first order: the page it opens, and
// the sort key and identifier of the last row of the page before it (Before: of the
// first row of the page after it, for a way back).
type listCursor struct {
	Page   int
	At     time.Time
	Key    string
	Before bool
}

// String encodes the cursor for the URL: opaque to clients, stable across filters.
func (c listCursor) String() string {
	raw := strconv.Itoa(c.Page) + "|" + c.At.UTC().Format(time.RFC3339Nano) + "|" + c.Key
	if c.Before {
		raw = "<" + raw
	}
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// errBadCursor answers a cursor that is not one the list gave out.
var errBadCursor = models.FieldError("cursor", "curseur invalide : reprenez la liste à sa première page et suivez next_cursor ou prev_cursor")

// parseCursor decodes a cursor; validKey checks its identifier for the list it is for.
func parseCursor(s string, validKey func(string) bool) (*listCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, errBadCursor
	}
	text, before := strings.CutPrefix(string(raw), "<")
	parts := strings.SplitN(text, "|", 3)
	if len(parts) != 3 {
		return nil, errBadCursor
	}
	// A cursor forward opens page 2 at least; one back, page 1 at least.
	page, err := strconv.Atoi(parts[0])
	if err != nil || page < 2 && !before || page < 1 || page > maxPage {
		return nil, errBadCursor
	}
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil || !validKey(parts[2]) {
		return nil, errBadCursor
	}
	return &listCursor{Page: page, At: at, Key: parts[2], Before: before}, nil
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
	at, err := parseCursor(cursor, validKey)
	if err != nil {
		return listPage{}, err
	}
	return listPage{Page: at.Page, Cursor: at}, nil
}

// searchCountCap is where a list stops counting when it is searched: a search that
// matches a tenth of 100,000 applications tested the pattern on about 10,000 of them
// to count to 1,000, and a moderator who reads "plus de 200" narrows the search rather
// than pages through it.
const searchCountCap = 200

// countCap is where a list stops counting: searchCountCap for a search, else
// listCountCap.
func countCap(search string) int {
	if search != "" {
		return searchCountCap
	}
	return listCountCap
}

// countUpTo counts the rows of q, stopping at limit: capped says there are more.
func countUpTo(db, q *gorm.DB, limit int) (n int64, capped bool, err error) {
	if err := db.Table("(?) AS capped", q.Select("1").Limit(limit+1)).Count(&n).Error; err != nil {
		return 0, false, err
	}
	if n > int64(limit) {
		return int64(limit), true, nil
	}
	return n, false, nil
}

// keyset says how a list is read by keyset: its newest-first order and the reverse,
// the conditions of the rows after and before a cursor's row in that order, and the
// sort key and identifier of a row.
type keyset[T any] struct {
	order, reverse string
	after, before  func(*gorm.DB, *listCursor) *gorm.DB
	keyOf          func(*T) (time.Time, string)
}

// readPage reads one page of q into rows, newest first: from the page's cursor, forward
// or back, or else with OFFSET from its number. It reads one row more than a page to
// know whether another follows in the direction it reads, and returns the cursors of
// the next and the previous pages, "" where there is none.
func readPage[T any](q *gorm.DB, lp listPage, ks keyset[T], rows *[]T) (next, prev string, err error) {
	page, c := max(lp.Page, 1), lp.Cursor
	back := c != nil && c.Before
	switch {
	case back:
		q = ks.before(q.Order(ks.reverse), c)
	case c != nil:
		q = ks.after(q.Order(ks.order), c)
	default:
		q = q.Order(ks.order)
		if page > 1 {
			q = q.Offset((page - 1) * pageSize)
		}
	}
	if err := q.Limit(pageSize + 1).Find(rows).Error; err != nil {
		return "", "", err
	}
	more := len(*rows) > pageSize
	if more {
		*rows = (*rows)[:pageSize]
	}
	if back {
		slices.Reverse(*rows)
	}
	n := len(*rows)
	if n == 0 {
		return "", "", nil
	}
	if more || back { // back: the page it came from follows
		at, key := ks.keyOf(&(*rows)[n-1])
		next = listCursor{Page: page + 1, At: at, Key: key}.String()
	}
	if page > 1 && (more || !back) {
		at, key := ks.keyOf(&(*rows)[0])
		prev = listCursor{Page: page - 1, At: at, Key: key, Before: true}.String()
	}
	return next, prev, nil
}
