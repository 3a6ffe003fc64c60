// Package gc is deepprobe's janitor: it reaps the health-check containers and volumes that a
// crash, a kill or a timed-out destroy left behind. It reaps a resource only when its handle
// has the health-check- prefix, it carries deepprobe's marker property, it is older than the
// orphan age, and no workload in flight owns it; it must never touch anything else.
package gc
