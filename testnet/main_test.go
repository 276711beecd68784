package testnet

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that every goroutine of every node stops on Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
