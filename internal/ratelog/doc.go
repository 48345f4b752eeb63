// Package ratelog keeps bad input and failing peers from flooding the log:
// each warning message is written at most once per interval, and the next
// one that is written says how many of that message were held back. One
// message never hides another.
//
// Every component of tailgate counts each occurrence in a metric; the log
// line is for a human, so one per interval is enough. A Limiter or Logger
// is safe for concurrent use and never blocks: a caller that loses the race
// for the current interval simply counts as held back.
package ratelog
