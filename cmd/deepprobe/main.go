// Command deepprobe proves that a Concourse worker can still do real work: behind one stable
// HTTP endpoint it creates a volume and a container and destroys both. See the README.
package main

import "github.com/deepprobe/deepprobe/cli"

func main() { cli.RunAndExit() }
