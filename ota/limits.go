package ota

// Named limits on every attacker-controlled cost. Documents larger than these
// are rejected with a [LimitError] before they are parsed.
const (
	// MaxRootBytes bounds a signed root document.
	MaxRootBytes = 64 << 10
	// MaxManifestBytes bounds a signed release manifest.
	MaxManifestBytes = 16 << 10
	// MaxSignatures bounds the signatures on one document.
	MaxSignatures = 16
	// MaxKeys bounds the keys listed in a root document.
	MaxKeys = 32
	// MaxHardwareIDs bounds the hardware list of a manifest.
	MaxHardwareIDs = 64
	// MaxStringLen bounds name, hardware IDs, key IDs and the version string.
	MaxStringLen = 128
	// MaxURLLen bounds the manifest URL.
	MaxURLLen = 2048
	// MaxJSONDepth bounds nesting in any document.
	MaxJSONDepth = 8
	// DefaultMaxRootRotations is the default of [Config.MaxRootRotations].
	DefaultMaxRootRotations = 16
	// DefaultMaxImageLength is the default of [Config.MaxImageLength]: 4 GiB.
	DefaultMaxImageLength = 4 << 30
	// MaxStateBytes bounds a trusted-state or counter file read from disk.
	MaxStateBytes = MaxRootBytes + 4<<10
)
