// Package openapitest holds the bridge's HTTP answers to docs/openapi.yaml
// with kin-openapi (github.com/getkin/kin-openapi): the routes the document
// describes, and the validation of real responses against it.
//
// docs/openapi.yaml is OpenAPI 3.1. kin-openapi v0.153.0 loads and validates
// 3.1 documents and validates bodies with a JSON Schema 2020-12 validator
// (const, type arrays such as [string, "null"], $ref with sibling keywords);
// it does not read components/pathItems, so the two JSON-RPC paths share
// their operations through a YAML alias instead, which is as valid 3.1.
package openapitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

func init() {
	// The timeline's SVG is text; kin-openapi knows no decoder for it.
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.PlainBodyDecoder)
}

// Load reads and validates the document at path.
func Load(path string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("%s is OpenAPI %s, not 3.1", path, doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI 3.1 document: %w", path, err)
	}
	return doc, nil
}

// Routes lists the document's operations as "METHOD /path", sorted.
func Routes(doc *openapi3.T) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out = append(out, method+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// Validator checks responses of a bridge at a base URL against a document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// NewValidator serves doc's operations at base (http://host:port), the
// address of the bridge under test.
func NewValidator(doc *openapi3.T, base string) (*Validator, error) {
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Validator{doc: doc, router: r}, nil
}

// Check validates one answer to req: its status must be one the operation
// lists, and its headers and body must match what the document says of that
// status. req must be the request as sent (its body is not read).
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s answered %d: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}

// Undocumented tells whether the document has no operation for req: the
// bridge must then answer 404 (no such path) or 405 (no such method) with
// an error body, which CheckError validates.
func (v *Validator) Undocumented(req *http.Request) bool {
	_, _, err := v.router.FindRoute(req)
	return err != nil
}

// CheckError validates body against the document's Error schema.
func (v *Validator) CheckError(body []byte) error {
	ref := v.doc.Components.Schemas["Error"]
	if ref == nil {
		return fmt.Errorf("the document has no Error schema")
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		return fmt.Errorf("an error body that is not JSON: %w", err)
	}
	return ref.Value.VisitJSON(value, openapi3.EnableJSONSchema2020())
}
