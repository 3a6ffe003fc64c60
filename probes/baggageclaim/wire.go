package baggageclaim

import "github.com/deepprobe/deepprobe/probes/internal/wire"

// Strategy says how a new volume is filled.
type Strategy struct {
	// Type is StrategyEmpty, StrategyImport or StrategyCOW.
	Type string `json:"type"`
	// Path is the host directory an import strategy copies from.
	Path string `json:"path,omitempty"`
	// Volume is the parent volume of a copy-on-write strategy.
	Volume string `json:"volume,omitempty"`
}

// Strategy types.
const (
	StrategyEmpty  = "empty"
	StrategyImport = "import"
	// StrategyCOW makes a copy-on-write child of another volume: what Concourse gives every
	// task input, image and cache (overlay, btrfs or naive driver).
	StrategyCOW = "cow"
)

// Stream encodings Baggageclaim accepts in Content-Encoding; a missing one is a 400.
const (
	EncodingRaw  = "raw"  // an uncompressed tar
	EncodingGzip = "gzip" // a gzip-compressed tar
)

// EmptyStrategy makes an empty volume.
func EmptyStrategy() Strategy { return Strategy{Type: StrategyEmpty} }

// COWStrategy makes a copy-on-write child of the volume called parent.
func COWStrategy(parent string) Strategy { return Strategy{Type: StrategyCOW, Volume: parent} }

// ImportStrategy makes a volume holding a copy of the host directory path.
func ImportStrategy(path string) Strategy { return Strategy{Type: StrategyImport, Path: path} }

// Request is the body of a volume create. Field names and order follow Baggageclaim's JSON.
type Request struct {
	// Handle names the volume; it must not be empty (deepprobe never lets the server pick).
	Handle     string            `json:"handle,omitempty"`
	Strategy   Strategy          `json:"strategy"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Volume is Baggageclaim's description of a volume.
type Volume struct {
	Handle string `json:"handle"`
	// Path is the volume's directory on the worker, usable as a raw:// container rootfs.
	Path       string            `json:"path"`
	Properties map[string]string `json:"properties"`
	Privileged bool              `json:"privileged"`
}

// bounded returns v with every string bounded, as decoded from an answer (wire.Bound).
func (v Volume) bounded() Volume {
	v.Handle, v.Path, v.Properties = wire.BoundName(v.Handle), wire.BoundText(v.Path), wire.BoundMap(v.Properties)
	return v
}

// ErrorBody is the JSON body of a Baggageclaim error answer.
type ErrorBody struct {
	Error string `json:"error"`
}
