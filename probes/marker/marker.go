package marker

import "strings"

// HandlePrefix starts the handle of every volume and container the workload creates.
const HandlePrefix = "health-check-"

// Properties that mark a volume or container as deepprobe's. The janitor reaps nothing that
// lacks MarkerProperty=MarkerValue. Their names hold only letters, digits, '_' and '.', the
// only ones every runtime can filter on (Concourse's containerd runtime rejects a '-').
const (
	MarkerProperty    = "deepprobe.health_check"
	MarkerValue       = "true"
	CreatedAtProperty = "deepprobe.created_at"
	InstanceProperty  = "deepprobe.instance"
)

// Legacy marker properties, written by deepprobe before it ran on containerd (which cannot
// filter on a '-'). Baggageclaim volumes have no TTL, so the janitor still reaps volumes marked
// so; containers marked so are reaped by their grace time.
const (
	LegacyMarkerProperty    = "deepprobe.health-check"
	LegacyCreatedAtProperty = "deepprobe.created-at"
)

// Marked reports whether props carry the marker, current or legacy.
func Marked(props map[string]string) bool {
	return props[MarkerProperty] == MarkerValue || props[LegacyMarkerProperty] == MarkerValue
}

// CreatedAt returns the created-at property, current or legacy.
func CreatedAt(props map[string]string) string {
	if v, ok := props[CreatedAtProperty]; ok {
		return v
	}
	return props[LegacyCreatedAtProperty]
}

// Filter is the property filter that selects deepprobe's resources on the servers.
func Filter() map[string]string { return map[string]string{MarkerProperty: MarkerValue} }

// IsProbeHandle reports whether handle has the exact, case-sensitive health-check prefix and
// something after it.
func IsProbeHandle(handle string) bool {
	rest, ok := strings.CutPrefix(handle, HandlePrefix)
	return ok && rest != ""
}
