package fleet

import (
	"strings"
	"testing"
)

func TestParseShare(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{"", 0, ""}, {"30%", 0.3, ""}, {"0.3", 0.3, ""}, {" 12.5% ", 0.125, ""}, {"100%", 1, ""}, {"1", 1, ""},
		{"0%", 0, "above 0%"}, {"30", 0, "at most 100%"}, {"150%", 0, "at most 100%"}, {"-5%", 0, "above 0%"},
		{"thirty", 0, "want a share such as 30% or 0.3"}, {"NaN", 0, "want a share"}, {"%", 0, "want a share"},
	}
	for _, tt := range tests {
		got, err := ParseShare(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseShare(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseShare(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for v, want := range map[float64]string{0.3: "30%", 0.125: "12.5%", 1: "100%", 2.0 / 3: "66.7%"} {
		if got := FormatShare(v); got != want {
			t.Errorf("FormatShare(%v) = %s, want %s", v, got, want)
		}
	}
}
