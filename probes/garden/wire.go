package garden

import "time"

// Spec is the part of Garden's container spec that deepprobe sends. Field names and order
// follow Garden's JSON so that requests match what Garden's own client sends.
type Spec struct {
	// Handle names the container; it must not be empty (deepprobe never lets the server pick).
	Handle string `json:"handle,omitempty"`
	// GraceTime is how long Garden keeps the container after its last use; on the wire it is
	// an integer number of nanoseconds. Only Guardian honours it here: see Client.SetGraceTime.
	GraceTime time.Duration `json:"grace_time,omitempty"`
	// RootFSPath is the container's root filesystem, "raw:///absolute/path".
	RootFSPath string `json:"rootfs,omitempty"`
	// Properties are string labels that Garden can filter containers by. Their names must
	// hold only letters, digits, '_' and '.' to be filterable on every runtime.
	Properties map[string]string `json:"properties,omitempty"`
}

// ProcessSpec is the part of Garden's process spec that deepprobe sends, in the order and
// form of Garden's own client (empty rlimits and image included).
type ProcessSpec struct {
	// Path is the executable, absolute inside the container's rootfs.
	Path string `json:"path"`
	// User is "uid:gid" (a rootfs without /etc/passwd runs fine as "0:0") or a user name.
	User    string   `json:"user,omitempty"`
	Rlimits struct{} `json:"rlimits"`
	Image   struct{} `json:"image"`
}

// ErrorBody is the JSON body of every Garden error answer.
type ErrorBody struct {
	Type      string `json:"Type"`
	Message   string `json:"Message"`
	Handle    string `json:"Handle"`
	ProcessID string `json:"ProcessID"`
	Binary    string `json:"Binary"`
}

// ProcessPayload is one line of the newline-delimited JSON that Garden writes on a hijacked
// process-run connection.
type ProcessPayload struct {
	ProcessID  string  `json:"process_id,omitempty"`
	StreamID   string  `json:"stream_id,omitempty"`
	ExitStatus *int    `json:"exit_status,omitempty"`
	Error      *string `json:"error,omitempty"`
}

// createResponse is the body of a successful create.
type createResponse struct {
	Handle string `json:"Handle"`
}

// listResponse is the body of a successful list.
type listResponse struct {
	Handles []string `json:"Handles"`
}
