package graph

import "time"

// SetRateClock gives s's rate limiter a clock of the test's (tests only).
func SetRateClock(s *Server, now func() time.Time) {
	s.limiter.mu.Lock()
	defer s.limiter.mu.Unlock()
	s.limiter.now = now
}

// Classify exposes the error table's mapping (tests only).
func Classify(err error) (code, msg string) {
	code, msg, _ = classify(err)
	return code, msg
}
