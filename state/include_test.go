package state

import "testing"

func TestLatest(t *testing.T) {
	p := &Package{Status: StatusActive}
	rel := func(v, status string, idx uint64) *Release { return &Release{Version: v, Status: status, Index: idx} }
	cases := []struct {
		rels []*Release
		want string
	}{
		{nil, ""},
		{[]*Release{rel("1.0.0", StatusPublished, 1), rel("1.10.0", StatusPublished, 2), rel("1.9.0", StatusPublished, 3)}, "1.10.0"},
		{[]*Release{rel("1.0.0", StatusPublished, 1), rel("2.0.0", StatusStaged, 2), rel("1.5.0", StatusYanked, 3)}, "1.0.0"},
		{[]*Release{rel("2.0.0-rc.1", StatusPublished, 1), rel("1.9.9", StatusPublished, 2)}, "2.0.0-rc.1"},
		{[]*Release{rel("v3.0.0", StatusPublished, 1), rel("2.0.0", StatusPublished, 2)}, "v3.0.0"},
		{[]*Release{rel("2024-01", StatusPublished, 1), rel("2023-12", StatusPublished, 2)}, "2023-12"},
		{[]*Release{rel("nightly", StatusPublished, 5), rel("0.1.0", StatusPublished, 1)}, "0.1.0"},
		{[]*Release{rel("1.0.0", StatusDeleted, 1), rel("0.9.0", StatusTombstoned, 2), rel("0.8.0", StatusBanished, 3)}, ""},
	}
	for i, c := range cases {
		got := Latest(p, c.rels)
		if (got == nil) != (c.want == "") || got != nil && got.Version != c.want {
			t.Errorf("case %d: latest = %v, want %q", i, got, c.want)
		}
	}
	// A tombstoned package has no latest release.
	if Latest(&Package{Status: StatusTombstoned}, []*Release{rel("1.0.0", StatusPublished, 1)}) != nil {
		t.Error("tombstoned package has a latest release")
	}
}

func TestInclude(t *testing.T) {
	in, err := ParseInclude("staged,yanked")
	if err != nil || !in.Shows(StatusStaged) || !in.Shows(StatusYanked) || in.Shows(StatusDeleted) || !in.Shows(StatusPublished) {
		t.Fatalf("%+v %v", in, err)
	}
	if _, err := ParseInclude("secret"); err == nil {
		t.Fatal("unknown include accepted")
	}
	if in, _ := ParseInclude("all"); in != IncludeAll {
		t.Fatal("all")
	}
	if (Include{}).Shows(StatusStaged) {
		t.Fatal("staged shown by default")
	}
}
