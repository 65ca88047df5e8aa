// Command largeset is a throwaway module with many dependencies, for the
// sbom package's "larger module set" tests and benchmarks. It is never run.
package main

import (
	_ "github.com/CycloneDX/cyclonedx-go"
	_ "github.com/chromedp/chromedp"
	_ "github.com/eclipse/paho.golang/autopaho"
	_ "github.com/go-jose/go-jose/v4"
	_ "github.com/google/licensecheck"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/lestrrat-go/jwx/v3/jwt"
	_ "github.com/mochi-mqtt/server/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/spf13/cobra"
	_ "github.com/tink-crypto/tink-go/v2/aead"
	_ "go.uber.org/goleak"
	_ "modernc.org/sqlite"
)

func main() {}
