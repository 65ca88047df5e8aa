package fhir

// The FHIR R4 data types this package emits, restricted to the elements it
// fills. They marshal with encoding/json to valid FHIR JSON.

// Observation is a FHIR R4 Observation resource.
type Observation struct {
	// ResourceType is always "Observation".
	ResourceType string `json:"resourceType"`
	// ID is the deterministic logical id; see the package documentation.
	ID string `json:"id"`
	// Meta lists the profiles the resource claims to follow, if any.
	Meta *Meta `json:"meta,omitempty"`
	// Status is "final": readings are complete when sent.
	Status string `json:"status"`
	// Category holds the observation category, e.g. vital-signs.
	Category []CodeableConcept `json:"category"`
	// Code says what was measured.
	Code CodeableConcept `json:"code"`
	// Subject references the patient by UUID: Patient/<uuid>.
	Subject Reference `json:"subject"`
	// EffectiveDateTime is the measurement time, RFC 3339.
	EffectiveDateTime string `json:"effectiveDateTime"`
	// Device references the measuring device: Device/<uuid>.
	Device *Reference `json:"device,omitempty"`
	// ValueQuantity is the single value of a simple observation; nil for a
	// panel that has components instead.
	ValueQuantity *Quantity `json:"valueQuantity,omitempty"`
	// Component holds the values of a panel such as blood pressure.
	Component []Component `json:"component,omitempty"`
}

// Meta is the FHIR Meta element.
type Meta struct {
	// Profile lists canonical URLs of StructureDefinitions.
	Profile []string `json:"profile,omitempty"`
}

// CodeableConcept is the FHIR CodeableConcept data type.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
	Text   string   `json:"text,omitempty"`
}

// Coding is the FHIR Coding data type: one code from one code system.
type Coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Reference is a FHIR literal reference such as "Patient/<uuid>".
type Reference struct {
	Reference string `json:"reference"`
}

// Quantity is the FHIR Quantity data type with a UCUM unit.
type Quantity struct {
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	System string  `json:"system"`
	Code   string  `json:"code"`
}

// Component is one component of an Observation panel.
type Component struct {
	Code          CodeableConcept `json:"code"`
	ValueQuantity *Quantity       `json:"valueQuantity,omitempty"`
}

// BundleType is the FHIR Bundle.type this package writes.
type BundleType string

// Bundle types.
const (
	// Collection is a set of resources with no processing instructions,
	// e.g. for a file export.
	Collection BundleType = "collection"
	// Transaction asks a FHIR server to apply every entry atomically; each
	// entry is a PUT of Observation/<id>, which makes re-exports idempotent.
	Transaction BundleType = "transaction"
)

// Bundle is a FHIR R4 Bundle of Observations.
type Bundle struct {
	// ResourceType is always "Bundle".
	ResourceType string `json:"resourceType"`
	// Type is the bundle type.
	Type BundleType `json:"type"`
	// Entry holds the Observations in record order.
	Entry []BundleEntry `json:"entry"`
}

// BundleEntry is one entry of a [Bundle].
type BundleEntry struct {
	// FullURL is "urn:uuid:<observation id>".
	FullURL string `json:"fullUrl"`
	// Resource is the Observation.
	Resource Observation `json:"resource"`
	// Request is set in transaction bundles.
	Request *BundleRequest `json:"request,omitempty"`
}

// BundleRequest is the request of a transaction bundle entry.
type BundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}
