package phisilo_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/memory"
)

func Example() {
	ctx := context.Background()
	keys, _ := phisilo.NewKeyset("", nil) // in production: a file, encrypted under a KMS master AEAD
	silo, _ := phisilo.New(phisilo.Config{Backend: memory.New(), Keys: keys})

	// The phone app registers the patient and gets back a random UUID.
	app := phisilo.Principal{UserID: "phone-app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	id, _ := silo.Register(ctx, app, phisilo.Record{Name: phisilo.Name{Given: "Ada", Family: "Lovelace"}}, nil)

	patient := phisilo.Principal{UserID: "ada", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	doctor := phisilo.Principal{UserID: "dr-house", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}

	_, err := silo.Get(ctx, doctor, id)
	fmt.Println("doctor before grant:", errors.Is(err, phisilo.ErrDenied))

	_, _ = silo.CreateGrant(ctx, patient, id, phisilo.GrantRequest{
		Grantee: "dr-house", GranteeRole: phisilo.RoleClinician,
		Sections: []phisilo.Section{phisilo.SectionDemographics}, Duration: 24 * time.Hour,
	})
	rec, _ := silo.Get(ctx, doctor, id)
	fmt.Println("doctor after grant:", rec.Name.Family)

	n, err := silo.VerifyAudit(ctx)
	fmt.Println("audit entries:", n, "verified:", err == nil)
	// Output:
	// doctor before grant: true
	// doctor after grant: Lovelace
	// audit entries: 4 verified: true
}

// A portal asks the silo which patients the logged-in user may open.
func ExampleSilo_Patients() {
	ctx := context.Background()
	keys, _ := phisilo.NewKeyset("", nil)
	silo, _ := phisilo.New(phisilo.Config{Backend: memory.New(), Keys: keys})
	app := phisilo.Principal{UserID: "phone-app", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest}
	id, _ := silo.Register(ctx, app, phisilo.Record{Name: phisilo.Name{Given: "Ada", Family: "Lovelace"}}, nil)
	patient := phisilo.Principal{UserID: "ada", Role: phisilo.RolePatient, Purpose: phisilo.PurposePatientRequest, Patient: id}
	doctor := phisilo.Principal{UserID: "dr-house", Role: phisilo.RoleClinician, Purpose: phisilo.PurposeTreatment}

	refs, _ := silo.Patients(ctx, doctor, phisilo.PatientQuery{})
	fmt.Println("before grant:", len(refs))
	_, _ = silo.CreateGrant(ctx, patient, id, phisilo.GrantRequest{
		Grantee: "dr-house", GranteeRole: phisilo.RoleClinician,
		Sections: []phisilo.Section{phisilo.SectionDemographics}, Duration: time.Hour,
	})
	refs, _ = silo.Patients(ctx, doctor, phisilo.PatientQuery{})
	for _, r := range refs {
		rec, _ := silo.Get(ctx, doctor, r.Patient)
		fmt.Println(r.Access, r.Sections, r.Patient == id, rec.Name.Family)
	}
	// Output:
	// before grant: 0
	// grant [demographics] true Lovelace
}
