package billing

import "slices"

// WithoutCopy returns the paid, live files none of whose copies is on a
// node live reports live, in creation order. The copies of a file are on
// its holders; before the first holder confirms one, the bytes are on its
// issuer alone.
func (s *State) WithoutCopy(live func(peer string) bool) []File {
	var out []File
	for _, rec := range s.files {
		f := &rec.File
		switch f.State {
		case StateStoring, StateStored, StateExtensionQuoted:
		default:
			continue
		}
		if len(f.Holders) == 0 {
			if !live(f.Issuer) {
				out = append(out, f.clone())
			}
			continue
		}
		if !slices.ContainsFunc(f.Holders, live) {
			out = append(out, f.clone())
		}
	}
	return out
}
