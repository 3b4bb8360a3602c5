package graph

import "time"

// SetRateClock gives s's rate limiter a clock of the test's (tests only).
func SetRateClock(s *Server, now func() time.Time) {
	s.limiter.mu.Lock()
	defer s.limiter.mu.Unlock()
	s.limiter.now = now
}
