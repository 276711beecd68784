package httpapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ddsnet/dds/api"
)

// Bounds of the streaming scanner: everything but the "data" string is held
// in memory, so everything else is bounded.
const (
	maxDepth     = 64
	maxKeyLen    = 256
	maxNumberLen = 128
	maxRawValue  = 4 * maxAdditionalLen // raw (uncompacted) additional
)

// uploadAttrs are the attributes of an upload as read from the request,
// before validation.
type uploadAttrs struct {
	name          string
	nameSet       bool
	nameLong      bool // longer than the scanner keeps
	nameBad       bool // not a string (already reported)
	duration      string
	durationSet   bool
	additional    []byte
	additionalSet bool
	additionalBig bool // longer than the scanner keeps
	// private and pay_from_balance (accounts), JSON literals; privateLate:
	// private came after the bytes (too late for an upload streamed
	// straight through).
	private     []byte
	privateSet  bool
	privateLate bool
	pay         []byte
	paySet      bool
}

// complete reports whether every attribute is known, so that nothing after
// the bytes can change the upload.
func (a uploadAttrs) complete() bool { return a.nameSet && a.durationSet && a.additionalSet }

// syntaxError is a document that is not well-formed JSON.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "malformed JSON: " + e.msg }

// readError is a failure to read the request body itself.
type readError struct{ err error }

func (e *readError) Error() string { return "read request body: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// uploadDoc scans a POST /files JSON:API document as it streams:
//
//	{"data": {"type": "file", "attributes": {"name": ..., "data": "<base64>", ...}}}
//
// head reads up to the start of the "data" string; the string's characters
// then go through a base64 decoder ([uploadDoc.content]) as they arrive,
// and at its end the rest of the document is read and checked. Members may
// come in any order; unknown members are skipped. Nothing but the data
// string is unbounded, and the data string is never held.
type uploadDoc struct {
	br    *bufio.Reader
	attrs uploadAttrs

	errs   []api.Error // shape and field problems found while scanning
	syntax error       // *syntaxError or *readError: the scan stopped
	done   bool        // the whole document was read

	seenData, seenAttrs, seenType bool
	typ                           []byte
	typLong                       bool
	dataSet                       bool
	inData                        bool

	capture *[]byte // raw bytes of the value being captured
	capMax  int
	capOver bool
}

func newUploadDoc(r io.Reader) *uploadDoc {
	return &uploadDoc{br: bufio.NewReaderSize(r, 64<<10)}
}

type scanPanic struct{ err error }

func (s *uploadDoc) fail(format string, args ...any) {
	panic(scanPanic{&syntaxError{fmt.Sprintf(format, args...)}})
}

// run runs f, turning a scan failure into s.syntax.
func (s *uploadDoc) run(f func()) {
	defer func() {
		if v := recover(); v != nil {
			p, ok := v.(scanPanic)
			if !ok {
				panic(v)
			}
			s.syntax = p.err
		}
	}()
	f()
}

func (s *uploadDoc) problem(code, detail, ptr string) {
	s.errs = append(s.errs, fieldError(code, detail, pointer(ptr)))
}

func (s *uploadDoc) next() byte {
	c, err := s.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			s.fail("unexpected end of document")
		}
		panic(scanPanic{&readError{err}})
	}
	if s.capture != nil {
		if len(*s.capture) < s.capMax {
			*s.capture = append(*s.capture, c)
		} else {
			s.capOver = true
		}
	}
	return c
}

func (s *uploadDoc) peek() byte {
	b, err := s.br.Peek(1)
	if err != nil {
		if err == io.EOF {
			s.fail("unexpected end of document")
		}
		panic(scanPanic{&readError{err}})
	}
	return b[0]
}

func (s *uploadDoc) ws() {
	for {
		b, err := s.br.Peek(1)
		if err != nil {
			return // the next read reports it
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			_, _ = s.br.ReadByte()
		default:
			return
		}
	}
}

func (s *uploadDoc) expect(c byte) {
	if got := s.next(); got != c {
		s.fail("expected %q, found %q", c, got)
	}
}

// str reads a string's characters after its opening quote, appending the
// unescaped bytes to out while it holds fewer than max; it reports whether
// some were left out.
func (s *uploadDoc) str(out *[]byte, max int) (over bool) {
	put := func(b ...byte) {
		if out == nil {
			return
		}
		if len(*out)+len(b) > max {
			over = true
			return
		}
		*out = append(*out, b...)
	}
	for {
		c := s.next()
		switch {
		case c == '"':
			return over
		case c == '\\':
			r := s.escape()
			var buf [utf8.UTFMax]byte
			put(buf[:utf8.EncodeRune(buf[:], r)]...)
		case c < 0x20:
			s.fail("control character in a string")
		default:
			put(c)
		}
	}
}

// escape reads an escape sequence after its backslash.
func (s *uploadDoc) escape() rune {
	switch c := s.next(); c {
	case '"', '\\', '/':
		return rune(c)
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'u':
		r := s.hex4()
		if utf16.IsSurrogate(r) {
			if b, err := s.br.Peek(2); err == nil && b[0] == '\\' && b[1] == 'u' {
				s.next()
				s.next()
				if r2 := utf16.DecodeRune(r, s.hex4()); r2 != utf8.RuneError {
					return r2
				}
			}
			return utf8.RuneError
		}
		return r
	default:
		s.fail("invalid escape \\%c", c)
		return 0
	}
}

func (s *uploadDoc) hex4() rune {
	var r rune
	for range 4 {
		c := s.next()
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			s.fail("invalid \\u escape")
		}
	}
	return r
}

// value skips one JSON value, checking its syntax.
func (s *uploadDoc) value(depth int) {
	if depth > maxDepth {
		s.fail("nesting deeper than %d", maxDepth)
	}
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		s.next()
		s.ws()
		if s.peek() == '}' {
			s.next()
			return
		}
		for {
			s.ws()
			s.expect('"')
			s.str(nil, 0)
			s.ws()
			s.expect(':')
			s.value(depth + 1)
			s.ws()
			switch c := s.next(); c {
			case '}':
				return
			case ',':
			default:
				s.fail("expected ',' or '}', found %q", c)
			}
		}
	case c == '[':
		s.next()
		s.ws()
		if s.peek() == ']' {
			s.next()
			return
		}
		for {
			s.value(depth + 1)
			s.ws()
			switch c := s.next(); c {
			case ']':
				return
			case ',':
			default:
				s.fail("expected ',' or ']', found %q", c)
			}
		}
	case c == '"':
		s.next()
		s.str(nil, 0)
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	default:
		s.fail("unexpected %q", c)
	}
}

func (s *uploadDoc) literal(word string) {
	for i := 0; i < len(word); i++ {
		if s.next() != word[i] {
			s.fail("invalid literal")
		}
	}
}

func (s *uploadDoc) number() {
	tok := make([]byte, 0, 24)
	for {
		b, err := s.br.Peek(1)
		if err != nil || !strings.ContainsRune("0123456789+-.eE", rune(b[0])) {
			break
		}
		tok = append(tok, s.next())
		if len(tok) > maxNumberLen {
			s.fail("number too long")
		}
	}
	if !json.Valid(tok) {
		s.fail("invalid number %q", tok)
	}
}

// raw skips a value, keeping up to max of its raw bytes.
func (s *uploadDoc) raw(max int) (b []byte, over bool) {
	s.ws()
	buf := make([]byte, 0, min(max, 512))
	s.capture, s.capMax, s.capOver = &buf, max, false
	defer func() { s.capture = nil }()
	s.value(0)
	return buf, s.capOver
}

func (s *uploadDoc) isNull() bool {
	b, err := s.br.Peek(4)
	return err == nil && string(b) == "null"
}

// head reads the document up to the first character of the data string,
// and reports whether it got there; otherwise the document has been read
// to its end (or the scan failed).
func (s *uploadDoc) head() (atData bool) {
	s.run(func() {
		s.ws()
		if s.peek() != '{' {
			s.fail("the document must be a JSON object")
		}
		s.next()
		if s.members(0, false) {
			atData = true
			return
		}
		s.end()
	})
	return atData
}

// tail reads the rest of the document after the data string.
func (s *uploadDoc) tail() {
	s.run(func() {
		s.members(2, true)
		s.members(1, true)
		s.members(0, true)
		s.end()
	})
}

// end checks that nothing but white space follows the document.
func (s *uploadDoc) end() {
	s.ws()
	if _, err := s.br.ReadByte(); err == nil {
		s.fail("data after the document")
	} else if err != io.EOF {
		panic(scanPanic{&readError{err}})
	}
	s.done = true
}

// members reads an object's members at a level (0 the document, 1 the
// resource, 2 its attributes), after its '{' or after a member's value. It
// returns true when it stopped at the data string.
func (s *uploadDoc) members(level int, afterValue bool) bool {
	for {
		s.ws()
		if afterValue {
			switch c := s.next(); c {
			case '}':
				return false
			case ',':
			default:
				s.fail("expected ',' or '}', found %q", c)
			}
			s.ws()
		} else if s.peek() == '}' {
			s.next()
			return false
		}
		s.expect('"')
		var key []byte
		if s.str(&key, maxKeyLen) {
			key = nil // an unknown member
		}
		s.ws()
		s.expect(':')
		s.ws()
		if s.member(level, string(key)) {
			return true
		}
		afterValue = true
	}
}

func (s *uploadDoc) dup(ptr string) {
	s.problem(api.CodeInvalidRequest, "member appears more than once", ptr)
}

// member reads one member's value; true when it is the data string, whose
// opening quote has then been read.
func (s *uploadDoc) member(level int, key string) bool {
	switch {
	case level == 0 && key == "data":
		if s.seenData {
			s.dup("/data")
			break
		}
		s.seenData = true
		if s.peek() != '{' {
			s.problem(api.CodeInvalidRequest, "data must be a resource object", "/data")
			break
		}
		s.next()
		return s.members(1, false)
	case level == 1 && key == "type":
		if s.seenType {
			s.dup("/data/type")
			break
		}
		s.seenType = true
		s.typ, s.typLong = s.raw(maxKeyLen)
		return false
	case level == 1 && key == "attributes":
		if s.seenAttrs {
			s.dup("/data/attributes")
			break
		}
		s.seenAttrs = true
		if s.peek() != '{' {
			s.problem(api.CodeInvalidRequest, "attributes must be an object", "/data/attributes")
			break
		}
		s.next()
		return s.members(2, false)
	case level == 2:
		return s.attribute(key)
	}
	s.value(0)
	return false
}

func (s *uploadDoc) attribute(key string) bool {
	ptr := "/data/attributes/" + key
	a := &s.attrs
	switch key {
	case "name":
		if a.nameSet {
			s.dup(ptr)
			break
		}
		if s.isNull() {
			break
		}
		a.nameSet = true
		if s.peek() != '"' {
			a.nameBad = true
			s.problem(api.CodeInvalidValue, "name must be a string", ptr)
			break
		}
		s.next()
		var b []byte
		a.nameLong = s.str(&b, maxNameLen+4)
		a.name = string(b)
		return false
	case "data":
		if s.dataSet {
			s.dup(ptr)
			break
		}
		s.dataSet = true
		if s.peek() != '"' {
			s.problem(api.CodeInvalidValue, "data must be a string of standard base64", ptr)
			break
		}
		s.next()
		s.inData = true
		return true
	case "duration":
		if a.durationSet {
			s.dup(ptr)
			break
		}
		if s.isNull() {
			break
		}
		b, over := s.raw(maxNumberLen)
		a.durationSet, a.duration = true, string(b)
		if over {
			a.duration = `"too long"`
		}
		return false
	case "additional":
		if a.additionalSet {
			s.dup(ptr)
			break
		}
		if s.isNull() {
			break
		}
		a.additional, a.additionalBig = s.raw(maxRawValue)
		a.additionalSet = true
		return false
	case "private", "pay_from_balance":
		set, late := &a.privateSet, s.dataSet
		if key == "pay_from_balance" {
			set = &a.paySet
		}
		if *set {
			s.dup(ptr)
			break
		}
		b, _ := s.raw(maxNumberLen)
		*set = true
		if key == "private" {
			a.private, a.privateLate = b, late
		} else {
			a.pay = b
		}
		return false
	}
	s.value(0)
	return false
}

// problems are the document's own problems: a syntax error alone, else
// the shape problems and a missing or wrong type or data.
func (s *uploadDoc) problems() []api.Error {
	var se *syntaxError
	if errors.As(s.syntax, &se) {
		return []api.Error{malformed(se.Error())}
	}
	errs := append([]api.Error(nil), s.errs...)
	if !s.seenData {
		return append(errs, fieldError(api.CodeRequired, "data is required", pointer("/data")))
	}
	if !s.seenType || string(s.typ) == "null" {
		errs = append(errs, fieldError(api.CodeRequired, "type is required", pointer("/data/type")))
	} else {
		var t string
		if err := json.Unmarshal(s.typ, &t); s.typLong || err != nil {
			errs = append(errs, fieldError(api.CodeInvalidValue, "type must be a string", pointer("/data/type")))
		} else if t != api.TypeFile {
			errs = append(errs, newError(409, api.CodeConflict, fmt.Sprintf("type %q is not %q", t, api.TypeFile), pointer("/data/type")))
		}
	}
	if !s.seenAttrs {
		errs = append(errs, fieldError(api.CodeRequired, "attributes are required", pointer("/data/attributes")))
	} else if !s.dataSet {
		errs = append(errs, fieldError(api.CodeRequired, "data is required", pointer("/data/attributes/data")))
	}
	return errs
}

// content returns the decoded bytes of the data string; at its end the
// rest of the document is read, and a document found invalid (or a
// request body that failed) makes the last Read fail instead of io.EOF.
func (s *uploadDoc) content() io.Reader {
	d := &dataChars{s: s}
	return &docContent{s: s, chars: d, dec: newB64Reader(d)}
}

type docContent struct {
	s     *uploadDoc
	chars *dataChars
	dec   io.Reader
	err   error
}

func (c *docContent) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.dec.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		c.s.tail()
		c.err = c.s.result()
		if c.err == nil {
			c.err = io.EOF
		}
	default:
		if c.s.syntax == nil {
			c.s.problem(api.CodeInvalidValue, "data must be standard base64", "/data/attributes/data")
			// Read on, to report the problems of the rest of the document too.
			if _, err := io.Copy(io.Discard, c.chars); err == nil {
				c.s.tail()
			}
		}
		c.err = c.s.result()
		if c.err == nil {
			c.err = errInvalidDocument
		}
	}
	return n, c.err
}

// result is nil for a sound document, else the error a content reader
// ends with.
func (s *uploadDoc) result() error {
	var re *readError
	if errors.As(s.syntax, &re) {
		return re
	}
	if s.syntax != nil || len(s.problems()) > 0 {
		return errInvalidDocument
	}
	return nil
}

// dataChars reads the characters of the data string, unescaped, and ends
// with io.EOF at its closing quote.
type dataChars struct {
	s       *uploadDoc
	pending []byte
	closed  bool
	err     error
}

func (d *dataChars) Read(p []byte) (n int, err error) {
	if d.err != nil {
		return 0, d.err
	}
	defer func() {
		if v := recover(); v != nil {
			sp, ok := v.(scanPanic)
			if !ok {
				panic(v)
			}
			d.s.syntax = sp.err
			d.err = sp.err
			err = sp.err
		}
	}()
	br := d.s.br
	for n < len(p) {
		if len(d.pending) > 0 {
			m := copy(p[n:], d.pending)
			d.pending = d.pending[m:]
			n += m
			continue
		}
		if d.closed {
			break
		}
		if br.Buffered() == 0 {
			if n > 0 {
				return n, nil // hand over what is there before blocking
			}
			d.s.peek()
		}
		buf, _ := br.Peek(br.Buffered())
		buf = buf[:min(len(buf), len(p)-n)]
		// A run of plain characters ends at a quote, a backslash or a raw
		// line break. Other raw control characters are not base64 either:
		// the decoder refuses them.
		i := len(buf)
		for _, c := range []byte{'"', '\\', '\n', '\r'} {
			if j := bytes.IndexByte(buf[:i], c); j >= 0 {
				i = j
			}
		}
		if i > 0 {
			copy(p[n:], buf[:i])
			_, _ = br.Discard(i)
			n += i
			continue
		}
		switch c := d.s.next(); c {
		case '"':
			d.closed = true
			d.s.inData = false
		case '\\':
			var b [utf8.UTFMax]byte
			d.pending = append(d.pending[:0], b[:utf8.EncodeRune(b[:], d.s.escape())]...)
		default:
			d.s.fail("control character in a string")
		}
	}
	if n == 0 && d.closed {
		d.err = io.EOF
		return 0, io.EOF
	}
	return n, nil
}
