package garden

import "time"

// Spec is the part of Garden's container spec that deepprobe sends. Field names and order
// follow Garden's JSON so that requests match what Garden's own client sends.
type Spec struct {
	// Handle names the container; it must not be empty (deepprobe never lets the server pick).
	Handle string `json:"handle,omitempty"`
	// GraceTime is how long Garden keeps the container after its last use; on the wire it is
	// an integer number of nanoseconds. Some backends ignore it here: see Client.SetGraceTime.
	GraceTime time.Duration `json:"grace_time,omitempty"`
	// RootFSPath is the container's root filesystem, "raw:///absolute/path".
	RootFSPath string `json:"rootfs,omitempty"`
	// Properties are string labels that Garden can filter containers by.
	Properties map[string]string `json:"properties,omitempty"`
}

// Capacity is Garden's answer to GET /capacity; backends may leave every field zero.
type Capacity struct {
	MemoryInBytes          uint64 `json:"memory_in_bytes,omitempty"`
	DiskInBytes            uint64 `json:"disk_in_bytes,omitempty"`
	SchedulableDiskInBytes uint64 `json:"schedulable_disk_in_bytes,omitempty"`
	MaxContainers          uint64 `json:"max_containers,omitempty"`
}

// ErrorBody is the JSON body of every Garden error answer.
type ErrorBody struct {
	Type      string `json:"Type"`
	Message   string `json:"Message"`
	Handle    string `json:"Handle"`
	ProcessID string `json:"ProcessID"`
	Binary    string `json:"Binary"`
}

// TypeContainerNotFound is the ErrorBody.Type of an unknown handle.
const TypeContainerNotFound = "ContainerNotFoundError"

// createResponse is the body of a successful create.
type createResponse struct {
	Handle string `json:"Handle"`
}

// listResponse is the body of a successful list.
type listResponse struct {
	Handles []string `json:"Handles"`
}
