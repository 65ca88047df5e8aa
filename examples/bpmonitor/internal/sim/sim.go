// Package sim simulates the cuff of a home blood-pressure monitor: readings
// with the variation a real patient shows, for the example's simulated
// monitors.
//
// # Model
//
// Each patient has a resting baseline (systolic, diastolic, pulse). A
// reading adds, in mmHg:
//
//   - a circadian term: a nocturnal dip of about 10–15 % of the excess over
//     a floor while asleep (23:00–06:00) and a morning surge after waking;
//   - a slow drift (a random walk, bounded) standing for weeks of treatment,
//     salt and season;
//   - beat-to-beat noise: standard deviation 6 systolic, 4 diastolic, 3 pulse;
//   - now and then an artefact the cuff itself flags: body movement (3 %),
//     irregular pulse (2 %), cuff too loose (1 %), each with the
//     corresponding Bluetooth measurement-status bit.
//
// Values are rounded to whole mmHg and beats per minute as cuffs report them,
// and always pass [iomt.BloodPressure.Validate]: systolic stays above
// diastolic by at least 15 mmHg, and everything stays within bounds.
//
// Randomness and time are injected; a Generator is deterministic for a given
// seed and sequence of times, and is not safe for concurrent use.
package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/openiomt/sdk/iomt"
)

// Profile is a patient's resting blood pressure and pulse.
type Profile struct {
	Systolic, Diastolic, Pulse float64
}

// DemoProfiles returns a few plausible patients for the demo: normal,
// elevated, stage 1 and stage 2 hypertension (ACC/AHA 2017 categories).
func DemoProfiles() []Profile {
	return []Profile{
		{Systolic: 116, Diastolic: 74, Pulse: 66},
		{Systolic: 126, Diastolic: 78, Pulse: 72},
		{Systolic: 134, Diastolic: 86, Pulse: 75},
		{Systolic: 148, Diastolic: 94, Pulse: 80},
	}
}

// Generator produces readings for one patient.
type Generator struct {
	p     Profile
	r     *rand.Rand
	drift float64
}

// NewGenerator returns a generator for profile p drawing randomness from r.
func NewGenerator(p Profile, r *rand.Rand) *Generator {
	return &Generator{p: p, r: r}
}

// Next returns the reading the cuff would take at time at.
func (g *Generator) Next(at time.Time) iomt.BloodPressure {
	g.drift += g.r.NormFloat64() * 0.8
	g.drift = math.Max(-8, math.Min(8, g.drift))

	h := float64(at.Hour()) + float64(at.Minute())/60
	var circ, pulseCirc float64
	switch {
	case h >= 23 || h < 6: // asleep: nocturnal dip
		circ, pulseCirc = -0.12, -8
	case h >= 6 && h < 9: // morning surge
		circ, pulseCirc = 0.06, 4
	case h >= 18: // evening
		circ = -0.03
	}
	sys := g.p.Systolic + g.drift + circ*(g.p.Systolic-60) + g.r.NormFloat64()*6
	dia := g.p.Diastolic + 0.6*g.drift + circ*(g.p.Diastolic-40) + g.r.NormFloat64()*4
	pulse := g.p.Pulse + pulseCirc + g.r.NormFloat64()*3

	var status iomt.MeasurementStatus
	switch u := g.r.Float64(); {
	case u < 0.03:
		status |= iomt.StatusBodyMovement
		sys += 8 + g.r.Float64()*10 // movement inflates the reading
		pulse += 6
	case u < 0.05:
		status |= iomt.StatusIrregularPulse
		pulse += g.r.NormFloat64() * 12
	case u < 0.06:
		status |= iomt.StatusCuffTooLoose
		sys += 5
		dia += 4
	}

	sys = clamp(math.Round(sys), iomt.MinSystolicMmHg+30, iomt.MaxSystolicMmHg-20)
	dia = clamp(math.Round(dia), iomt.MinDiastolicMmHg+20, sys-15)
	pulse = clamp(math.Round(pulse), 40, 180)
	if pulse > 100 {
		status |= iomt.StatusPulseAboveRange
	} else if pulse < 50 {
		status |= iomt.StatusPulseBelowRange
	}
	return iomt.BloodPressure{
		Systolic:     sys,
		Diastolic:    dia,
		MeanArterial: math.Round(dia + (sys-dia)/3),
		Unit:         iomt.MmHg,
		Pulse:        pulse,
		Status:       status,
		MeasuredAt:   at,
	}
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }
