package stack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/openiomt/sdk/examples/bpmonitor/internal/portal"
	sbomci "github.com/openiomt/sdk/examples/sbom-ci"
	"github.com/openiomt/sdk/sbom"
)

// firmwareSBOM is the SBOM of the running binary — the simulated monitors'
// firmware runs in it — generated once in bin mode with the maker's FDA
// policy (examples/sbom-ci/policy.yaml).
type firmwareSBOM struct {
	mu   sync.Mutex
	view *portal.SBOMView
}

var _ portal.SBOMSource = (*firmwareSBOM)(nil)

func (f *firmwareSBOM) SBOM(ctx context.Context, s portal.Session) (portal.SBOMView, error) {
	if err := staffOnly(s); err != nil {
		return portal.SBOMView{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.view != nil {
		return *f.view, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return portal.SBOMView{}, err
	}
	pol, err := sbom.ParsePolicy(sbomci.Policy)
	if err != nil {
		return portal.SBOMView{}, err
	}
	res, err := sbom.FromBinary(ctx, exe, sbom.Config{Policy: pol})
	if err != nil {
		return portal.SBOMView{}, err
	}
	var buf bytes.Buffer
	if err := sbom.Encode(&buf, res.BOM, sbom.FormatJSON, sbom.Spec16); err != nil {
		return portal.SBOMView{}, err
	}
	v := portal.SBOMView{SpecVersion: string(sbom.Spec16), JSON: buf.Bytes(), Subject: "bpmonitor firmware"}
	if md := res.BOM.Metadata; md != nil && md.Component != nil {
		v.Subject = strings.TrimSpace(md.Component.Name + " " + md.Component.Version)
	}
	if problems := sbom.Check(res.BOM); len(problems) > 0 {
		v.Subject += fmt.Sprintf(" — %d NTIA/FDA elements missing (iomt sbom check lists them)", len(problems))
	} else {
		v.Subject += " — NTIA minimum elements and FDA fields complete"
	}
	if res.BOM.Components != nil {
		for _, c := range *res.BOM.Components {
			v.Components = append(v.Components, component(c))
		}
	}
	f.view = &v
	return v, nil
}

func component(c cdx.Component) portal.Component {
	pc := portal.Component{Name: c.Name, Version: c.Version, PURL: c.PackageURL, Support: "—", EndOfSupport: "—", License: "unknown"}
	if c.Supplier != nil {
		pc.Supplier = c.Supplier.Name
	}
	if c.Licenses != nil {
		var ls []string
		for _, l := range *c.Licenses {
			switch {
			case l.License != nil && l.License.ID != "":
				ls = append(ls, l.License.ID)
			case l.License != nil && l.License.Name != "":
				ls = append(ls, l.License.Name)
			case l.Expression != "":
				ls = append(ls, l.Expression)
			}
		}
		if len(ls) > 0 {
			pc.License = strings.Join(ls, ", ")
		}
	}
	if c.Properties != nil {
		for _, p := range *c.Properties {
			switch p.Name {
			case sbom.PropSupportLevel:
				pc.Support = p.Value
			case sbom.PropEndOfSupport:
				pc.EndOfSupport = p.Value
			}
		}
	}
	return pc
}
