package api

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"jardinier/models"
)

// maxTrackedClients bounds the limiter's memory; past it, idle clients are forgotten.
const maxTrackedClients = 10_000

// rateLimiter allows n events per period and client address, in bursts of n.
type rateLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	clients map[string]*clientLimit
}

type clientLimit struct {
	limiter *rate.Limiter
	seen    time.Time
}

func newRateLimiter(n int, period time.Duration) *rateLimiter {
	return &rateLimiter{every: rate.Limit(float64(n) / period.Seconds()), burst: n, clients: map[string]*clientLimit{}}
}

// allow reports whether the client may act now, and if not, how long to wait.
func (l *rateLimiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.clients) >= maxTrackedClients {
		for k, v := range l.clients {
			if now.Sub(v.seen) > time.Duration(float64(l.burst)/float64(l.every))*time.Second {
				delete(l.clients, k)
			}
		}
	}
	cl, ok := l.clients[client]
	if !ok {
		cl = &clientLimit{limiter: rate.NewLimiter(l.every, l.burst)}
		l.clients[client] = cl
	}
	cl.seen = now
	r := cl.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimit refuses requests beyond the limiter's rate (SUBMIT_RATE per hour) from one
// address. The address is the client's, through the proxies of TRUSTED_PROXIES.
func (s *Server) rateLimit(l *rateLimiter) gin.HandlerFunc {
	return func(c *gin.Context) {
		ok, wait := l.allow(c.ClientIP(), s.now())
		if !ok {
			c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			if !isAPIPath(c.Request.URL.Path) {
				s.renderPage(c, http.StatusTooManyRequests, pageLimited, limitedData{Minutes: int(math.Ceil(wait.Minutes()))})
				return
			}
			s.writeError(c, models.Errorf(models.ELIMIT, "trop de demandes depuis cette adresse, réessayez dans %d minutes", int(math.Ceil(wait.Minutes()))))
			return
		}
		c.Next()
	}
}

// limitedData is what the page of a refused request says: when to try again.
type limitedData struct{ Minutes int }
