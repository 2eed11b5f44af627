package cli

import (
	"fmt"
	"os"

	"golang.org/x/term"
)

// progress returns a callback that draws a progress line on stderr when it
// is a terminal, and nil otherwise (scripts get no noise).
func (g *globals) progress(what string, total int64) func(int64) {
	f, ok := g.errOut.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || g.json {
		return nil
	}
	return func(n int64) {
		if total > 0 {
			fmt.Fprintf(f, "\r%s %s / %s (%d%%)   ", what, human(n), human(total), n*100/total)
		} else {
			fmt.Fprintf(f, "\r%s %s   ", what, human(n))
		}
		if n >= total && total > 0 {
			fmt.Fprintln(f)
		}
	}
}

// human formats a byte count.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
