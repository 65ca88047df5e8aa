package sim

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestReadingsAreValidAndVary(t *testing.T) {
	for i, p := range DemoProfiles() {
		g := NewGenerator(p, rand.New(rand.NewPCG(uint64(i), 7)))
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		var sum, sumSq float64
		var flagged int
		const n = 2000
		for j := 0; j < n; j++ {
			at = at.Add(37 * time.Minute)
			r := g.Next(at)
			if err := r.Validate(); err != nil {
				t.Fatalf("profile %d reading %d invalid: %v", i, j, err)
			}
			if r.Systolic != math.Round(r.Systolic) || r.Pulse != math.Round(r.Pulse) {
				t.Fatalf("not whole numbers: %+v", r)
			}
			sum += r.Systolic
			sumSq += r.Systolic * r.Systolic
			if r.Status != 0 {
				flagged++
			}
		}
		mean := sum / n
		sd := math.Sqrt(sumSq/n - mean*mean)
		if math.Abs(mean-p.Systolic) > 10 {
			t.Errorf("profile %d: mean systolic %.1f far from baseline %.0f", i, mean, p.Systolic)
		}
		if sd < 4 || sd > 20 {
			t.Errorf("profile %d: systolic sd %.1f not realistic", i, sd)
		}
		if flagged == 0 || flagged > n/5 {
			t.Errorf("profile %d: %d flagged readings of %d", i, flagged, n)
		}
	}
}

func TestNocturnalDip(t *testing.T) {
	g := NewGenerator(DemoProfiles()[2], rand.New(rand.NewPCG(1, 2)))
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var night, noon float64
	for d := 0; d < 200; d++ {
		base := day.AddDate(0, 0, d)
		night += g.Next(base.Add(2 * time.Hour)).Systolic
		noon += g.Next(base.Add(13 * time.Hour)).Systolic
	}
	if night >= noon {
		t.Fatalf("no nocturnal dip: night mean %.1f, noon mean %.1f", night/200, noon/200)
	}
}

func TestDeterministicForSeed(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a := NewGenerator(DemoProfiles()[0], rand.New(rand.NewPCG(5, 5))).Next(at)
	b := NewGenerator(DemoProfiles()[0], rand.New(rand.NewPCG(5, 5))).Next(at)
	if a != b {
		t.Fatalf("%+v != %+v", a, b)
	}
}
