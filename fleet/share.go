package fleet

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseShare reads a share of the fleet: a percentage ("30%") or a fraction ("0.3"), above 0
// and at most 1. The empty string is 0: no budget.
func ParseShare(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	num, percent := strings.CutSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a share such as 30%% or 0.3, got %q", s)
	}
	if percent {
		v /= 100
	}
	if v <= 0 || v > 1 {
		return 0, fmt.Errorf("must be above 0%% and at most 100%%, got %q", s)
	}
	return v, nil
}

// FormatShare writes a share as a percentage ("30%", "12.5%").
func FormatShare(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/10, 'f', -1, 64) + "%"
}
