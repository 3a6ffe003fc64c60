// Package marker is the identity of what deepprobe creates: the handle prefix and the
// properties that mark a volume or a container as a health check's, current and legacy. The
// workload writes them; the janitor reaps nothing without them. It is a leaf: it imports
// nothing of deepprobe's.
package marker
