// Command vouch is the Vouch registry server and its command-line client.
// Run "vouch --help" for the commands.
package main

import (
	"os"

	"github.com/vouchdev/vouch/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
