package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxBodyBytes bounds the body of a protocol request.
const MaxBodyBytes = 64 << 10

// Params holds the parameters of one protocol request, each name at most
// once. Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
type Params map[string]string

// Get returns the value of name, or "" when absent.
func (p Params) Get(name string) string { return p[name] }

// Has reports whether name was sent with a value.
func (p Params) Has(name string) bool { _, ok := p[name]; return ok }

// add records one parameter, refusing a name that was already sent,
// except resource, which RFC 8707 §2 lets a request repeat: its values
// are kept in order, separated by a newline (Resources reads them).
func (p Params) add(name, value string) error {
	if value == "" {
		return nil
	}
	if old, dup := p[name]; dup {
		if name != ParamResource {
			return InvalidRequest("parameter %q was sent more than once", name)
		}
		value = old + "\n" + value
	}
	p[name] = value
	return nil
}

// ParamResource is RFC 8707's resource parameter.
const ParamResource = "resource"

// Resources returns the values of the resource parameter, in the order
// sent; nil when there is none.
func (p Params) Resources() []string {
	v, ok := p[ParamResource]
	if !ok {
		return nil
	}
	return strings.Split(v, "\n")
}

// addValues records every parameter of vs.
func (p Params) addValues(vs url.Values) error {
	for name, values := range vs {
		for _, v := range values {
			if err := p.add(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// ParseQuery parses a raw query string into Params, refusing repeated
// parameters and malformed encoding.
func ParseQuery(raw string) (Params, error) {
	vs, err := url.ParseQuery(raw)
	if err != nil {
		return nil, InvalidRequest("the query string is malformed")
	}
	p := Params{}
	if err := p.addValues(vs); err != nil {
		return nil, err
	}
	return p, nil
}

// ReadParams reads the parameters of a POST to a protocol endpoint: the
// query string (Bitbucket clients put everything there) and a body that is
// either application/x-www-form-urlencoded or an application/json object of
// strings (Gitea). A name may appear only once across all of them.
func ReadParams(w http.ResponseWriter, r *http.Request) (Params, error) {
	p, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, InvalidRequest("the request body is larger than %d bytes", MaxBodyBytes)
		}
		return nil, InvalidRequest("the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, InvalidRequest("the Content-Type header is missing or malformed")
	}
	switch mediaType {
	case "application/x-www-form-urlencoded":
		vs, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, InvalidRequest("the form body is malformed")
		}
		return p, p.addValues(vs)
	case "application/json":
		return p, p.addJSON(body)
	default:
		return nil, InvalidRequest("unsupported Content-Type %q: use application/x-www-form-urlencoded or application/json", mediaType)
	}
}

// addJSON records the members of a flat JSON object whose values are strings.
func (p Params) addJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return InvalidRequest("the JSON body must be an object")
	}
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return InvalidRequest("the JSON body is malformed")
		}
		var value any
		if err := dec.Decode(&value); err != nil {
			return InvalidRequest("the JSON body is malformed")
		}
		key, _ := keyTok.(string)
		s, ok := value.(string)
		if !ok {
			return InvalidRequest("JSON member %q must be a string", key)
		}
		if err := p.add(key, s); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return InvalidRequest("the JSON body is malformed")
	}
	if dec.More() || trailingData(dec) {
		return InvalidRequest("the JSON body has data after the object")
	}
	return nil
}

func trailingData(dec *json.Decoder) bool {
	_, err := dec.Token()
	return err != io.EOF
}
