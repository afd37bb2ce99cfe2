//go:build race

package e2e

// raceDetector is true when the tests run under the race detector, where
// the walks that check statuses over thousands of requests (and find no
// races that the concurrency tests do not) are left to the plain pass.
const raceDetector = true
