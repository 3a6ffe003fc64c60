// Package gc is deepprobe's janitor: it reaps the health-check containers and volumes that a
// crash, a kill or a timed-out destroy left behind. It reaps a resource only when its handle
// has the health-check- prefix, it carries deepprobe's marker property, it is older than the
// orphan age (another deepprobe instance's: OtherInstanceAgeFactor orphan ages), no workload in
// flight owns it, and, for a volume, Garden no longer lists the container of its handle. A
// container Garden is already destroying is not gone: it is tried again, and reported stuck
// when it stays so. The janitor must never touch anything else.
package gc
