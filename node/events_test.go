package node

import (
	"fmt"
	"testing"
)

// TestEventsKeepTheLatest: the ring keeps the last eventsKept events,
// oldest first.
func TestEventsKeepTheLatest(t *testing.T) {
	var e events
	if got := e.list(); len(got) != 0 {
		t.Fatalf("empty ring lists %d events", len(got))
	}
	for i := range 3 {
		e.add(Event{Message: fmt.Sprint(i)})
	}
	if got := e.list(); len(got) != 3 || got[0].Message != "0" || got[2].Message != "2" {
		t.Fatalf("3 events: %+v", got)
	}
	for i := 3; i < eventsKept+50; i++ {
		e.add(Event{Message: fmt.Sprint(i)})
	}
	got := e.list()
	if len(got) != eventsKept || got[0].Message != fmt.Sprint(50) || got[len(got)-1].Message != fmt.Sprint(eventsKept+49) {
		t.Fatalf("after %d events: %d kept, first %q, last %q", eventsKept+50, len(got), got[0].Message, got[len(got)-1].Message)
	}
}
