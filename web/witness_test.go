package web

import (
	"slices"
	"testing"
)

// TestWitnesses: the home page names the cosigners of a checkpoint, the
// signature lines of its note other than the log's own.
func TestWitnesses(t *testing.T) {
	note := "example.com/log\n12\nAAAA\n\n\u2014 example.com/log sigsig\n\u2014 witness.example.org/w1 abcd\n\u2014 w2.example abcd\n\u2014 witness.example.org/w1 efgh\n"
	if got := witnesses([]byte(note), "example.com/log"); !slices.Equal(got, []string{"witness.example.org/w1", "w2.example"}) {
		t.Fatalf("witnesses = %q", got)
	}
	if got := witnesses([]byte("example.com/log\n12\nAAAA\n\n\u2014 example.com/log sig\n"), "example.com/log"); got != nil {
		t.Fatalf("a note with the log's signature only: %q", got)
	}
}
