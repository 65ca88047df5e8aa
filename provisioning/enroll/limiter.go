package enroll

import (
	"sync"
	"time"
)

// limiter is a token bucket per source with a bounded table: at most max
// sources are tracked, sources whose bucket has refilled are dropped first,
// and when the table is full of active sources new ones are refused (fail
// closed), so a flood of spoofed sources cannot grow memory.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	max     int
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(perMinute, maxSources int, now func() time.Time) *limiter {
	return &limiter{rate: float64(perMinute) / 60, burst: float64(perMinute), max: maxSources,
		now: now, buckets: make(map[string]*bucket)}
}

// allow takes one token from source's bucket.
func (l *limiter) allow(source string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[source]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[source] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(l.burst, b.tokens+el*l.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// evict drops sources whose buckets are full again.
func (l *limiter) evict(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
