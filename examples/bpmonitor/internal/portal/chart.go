package portal

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The chart is computed here and drawn by the template as inline SVG: no
// script, no external library, readable without a network connection.

const (
	chartW, chartH           = 880, 360
	plotX, plotY             = 56, 16
	plotW, plotH             = chartW - plotX - 56, chartH - plotY - 40
	mmHgMin, mmHgMaxDefault  = 40.0, 200.0
	pulseMin, pulseMaxChart  = 40.0, 140.0
	maxChartPoints           = 2000
	maxTableRows             = 200
	chartRefSystolicHigh     = 130.0 // ACC/AHA stage 1 systolic threshold
	chartRefDiastolicHigh    = 80.0  // ACC/AHA stage 1 diastolic threshold
	chartTargetSysLo         = 90.0
	chartTargetSysHi         = 120.0
	chartTargetDiaLo         = 60.0
	chartTargetDiaHi         = 80.0
	chartPulseAxisLabelEvery = 20.0
)

type tick struct {
	Pos   float64
	Label string
}

type band struct {
	Y, H  float64
	Class string
	Label string
}

type point struct {
	X, Sys, Dia, Pulse float64
	HasPulse           bool
	Flagged            bool
	Title              string
}

type chartView struct {
	W, H                        int
	PX, PY, PW, PH              int
	Right                       int
	YTicks, PulseTicks, XTicks  []tick
	Bands                       []band
	RefSys, RefDia              float64 // y of the threshold lines
	RangePath                   string  // area between systolic and diastolic
	SysPath, DiaPath, PulsePath string
	Points                      []point
	N                           int
	From, To                    time.Time
	Summary                     string // text alternative for screen readers
	CX, CY                      int    // centre of the plot
}

// buildChart lays out readings (oldest first) between from and to.
func buildChart(rs []Reading, from, to time.Time, loc *time.Location) chartView {
	c := chartView{W: chartW, H: chartH, PX: plotX, PY: plotY, PW: plotW, PH: plotH, Right: plotX + plotW, From: from, To: to,
		CX: plotX + plotW/2, CY: plotY + plotH/2}
	if len(rs) > maxChartPoints {
		rs = rs[len(rs)-maxChartPoints:]
	}
	yMax := mmHgMaxDefault
	for _, r := range rs {
		if s := r.In(0).Systolic; s+10 > yMax {
			yMax = math.Ceil((s+10)/20) * 20
		}
	}
	span := to.Sub(from).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return round1(plotX + math.Max(0, math.Min(1, f))*plotW)
	}
	y := func(v float64) float64 {
		f := (v - mmHgMin) / (yMax - mmHgMin)
		return round1(plotY + plotH - math.Max(0, math.Min(1, f))*plotH)
	}
	yp := func(v float64) float64 {
		f := (v - pulseMin) / (pulseMaxChart - pulseMin)
		return round1(plotY + plotH - math.Max(0, math.Min(1, f))*plotH)
	}
	for v := mmHgMin; v <= yMax; v += 20 {
		c.YTicks = append(c.YTicks, tick{y(v), strconv.Itoa(int(v))})
	}
	for v := pulseMin; v <= pulseMaxChart; v += chartPulseAxisLabelEvery {
		c.PulseTicks = append(c.PulseTicks, tick{yp(v), strconv.Itoa(int(v))})
	}
	days := to.Sub(from).Hours() / 24
	step := 24 * time.Hour
	if days > 21 {
		step = 7 * 24 * time.Hour
	} else if days > 8 {
		step = 2 * 24 * time.Hour
	}
	start := time.Date(from.In(loc).Year(), from.In(loc).Month(), from.In(loc).Day(), 0, 0, 0, 0, loc).Add(24 * time.Hour)
	for t := start; t.Before(to); t = t.Add(step) {
		c.XTicks = append(c.XTicks, tick{x(t), t.Format("Jan 2")})
	}
	c.Bands = []band{
		{Y: y(chartTargetSysHi), H: y(chartTargetSysLo) - y(chartTargetSysHi), Class: "band-sys", Label: "systolic target 90–120"},
		{Y: y(chartTargetDiaHi), H: y(chartTargetDiaLo) - y(chartTargetDiaHi), Class: "band-dia", Label: "diastolic target 60–80"},
	}
	c.RefSys, c.RefDia = y(chartRefSystolicHigh), y(chartRefDiastolicHigh)

	var sysP, diaP, pulseP, area strings.Builder
	var lo []string
	var sumS, sumD float64
	for i, r := range rs {
		bp := r.In(0)
		px := x(bp.MeasuredAt)
		p := point{X: px, Sys: y(bp.Systolic), Dia: y(bp.Diastolic), Flagged: bp.Status != 0}
		p.Title = fmt.Sprintf("%s · %.0f/%.0f mmHg", bp.MeasuredAt.In(loc).Format("Jan 2 15:04"), bp.Systolic, bp.Diastolic)
		if bp.Pulse != 0 {
			p.HasPulse, p.Pulse = true, yp(bp.Pulse)
			p.Title += fmt.Sprintf(" · pulse %.0f", bp.Pulse)
			pathTo(&pulseP, i == 0 || pulseP.Len() == 0, px, p.Pulse)
		}
		pathTo(&sysP, i == 0, px, p.Sys)
		pathTo(&diaP, i == 0, px, p.Dia)
		pathTo(&area, i == 0, px, p.Sys)
		lo = append(lo, fmt.Sprintf("L%s %s", num(px), num(p.Dia)))
		c.Points = append(c.Points, p)
		sumS += bp.Systolic
		sumD += bp.Diastolic
	}
	for i := len(lo) - 1; i >= 0; i-- {
		area.WriteString(lo[i])
	}
	if area.Len() > 0 {
		area.WriteString("Z")
	}
	c.SysPath, c.DiaPath, c.PulsePath, c.RangePath = sysP.String(), diaP.String(), pulseP.String(), area.String()
	c.N = len(rs)
	if c.N > 0 {
		c.Summary = fmt.Sprintf("%d readings from %s to %s, average %.0f/%.0f mmHg", c.N,
			from.In(loc).Format("Jan 2"), to.In(loc).Format("Jan 2"), sumS/float64(c.N), sumD/float64(c.N))
	} else {
		c.Summary = "no readings in this period"
	}
	return c
}

func pathTo(b *strings.Builder, move bool, x, y float64) {
	if move {
		b.WriteString("M")
	} else {
		b.WriteString("L")
	}
	b.WriteString(num(x))
	b.WriteString(" ")
	b.WriteString(num(y))
}

func num(v float64) string     { return strconv.FormatFloat(v, 'f', -1, 64) }
func round1(v float64) float64 { return math.Round(v*10) / 10 }
