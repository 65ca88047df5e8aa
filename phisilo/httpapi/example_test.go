package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/openiomt/sdk/phisilo"
	"github.com/openiomt/sdk/phisilo/httpapi"
	"github.com/openiomt/sdk/phisilo/memory"
)

func Example() {
	keys, _ := phisilo.NewKeyset("", nil)
	silo, _ := phisilo.New(phisilo.Config{Backend: memory.New(), Keys: keys, PasswordIterations: 1000})
	api, _ := httpapi.New(httpapi.Config{Silo: silo})
	srv := httptest.NewServer(api) // in production: httpapi.NewServer(addr, api, cert).ListenAndServeTLS("", "")
	defer srv.Close()

	// The phone app registers the patient (and their login).
	body := `{"record":{"name":{"given":"Ada"}},"user_id":"ada","password":"correct horse battery"}`
	resp, _ := http.Post(srv.URL+"/v1/patients", "application/json", strings.NewReader(body))
	resp.Body.Close()
	fmt.Println("register:", resp.StatusCode)

	// Nobody reads a record without a session.
	resp, _ = http.Get(srv.URL + "/v1/patients/3f0c8e9a-4b1d-4c2e-9f3a-0123456789ab")
	resp.Body.Close()
	fmt.Println("anonymous read:", resp.StatusCode)
	// Output:
	// register: 201
	// anonymous read: 401
}
