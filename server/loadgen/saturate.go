package loadgen

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// SaturateConfig describes a saturation run: the fleet of Config (its Rate
// and Duration are not used), then steps of StepDuration at a rising
// offered rate, from StartRate, multiplied by Factor after each step that
// held, until one does not: its p99 latency passes MaxP99, a report
// fails, or fewer than 95% of the offered reports per second were
// acknowledged. Refine more steps then bisect between the last rate that
// held and the first that did not.
type SaturateConfig struct {
	Config
	StartRate    float64       // default 500 reports/s
	Factor       float64       // default 1.25
	StepDuration time.Duration // default 5s
	MaxP99       time.Duration // default 100ms
	Refine       int           // default 2
	MaxSteps     int           // default 40
	// Step, if set, is called after each step.
	Step func(Step)
}

// Step is one rate a saturation run offered, and how it went.
type Step struct {
	Offered  float64 // reports/s asked for
	Achieved float64 // reports/s acknowledged
	P50, P99 time.Duration
	Errors   int64
	Held     bool   // within MaxP99, no error, ≥ 95% of the offered rate
	Why      string // why it did not hold
}

func (s Step) String() string {
	v := "held"
	if !s.Held {
		v = "did not hold: " + s.Why
	}
	return fmt.Sprintf("offered %.0f/s: %.0f/s acknowledged, p50 %v, p99 %v, %d errors: %s",
		s.Offered, s.Achieved, s.P50.Round(10*time.Microsecond), s.P99.Round(10*time.Microsecond), s.Errors, v)
}

// Saturation is what a saturation run found.
type Saturation struct {
	Enrolled int
	Acked    int64 // reports acknowledged over all steps
	Steps    []Step
	// Max is the step with the highest acknowledged rate among those that
	// held: the maximum sustained rate (zero if none held).
	Max        Step
	FirstError string
}

func (s *Saturation) String() string {
	var b strings.Builder
	for _, st := range s.Steps {
		b.WriteString(st.String())
		b.WriteByte('\n')
	}
	if s.Max.Held {
		fmt.Fprintf(&b, "maximum sustained: %.0f reports/s (p99 %v) with %d hosts", s.Max.Achieved, s.Max.P99.Round(10*time.Microsecond), s.Enrolled)
	} else {
		fmt.Fprintf(&b, "no step held (first error: %s)", s.FirstError)
	}
	return b.String()
}

func (c *SaturateConfig) defaults() {
	if c.StartRate <= 0 {
		c.StartRate = 500
	}
	if c.Factor <= 1 {
		c.Factor = 1.25
	}
	if c.StepDuration <= 0 {
		c.StepDuration = 5 * time.Second
	}
	if c.MaxP99 <= 0 {
		c.MaxP99 = 100 * time.Millisecond
	}
	if c.Refine < 0 {
		c.Refine = 0
	} else if c.Refine == 0 {
		c.Refine = 2
	}
	if c.MaxSteps <= 0 {
		c.MaxSteps = 40
	}
}

// Saturate measures the collector's capacity: the highest rate of reports
// it acknowledges within MaxP99 without errors (see SaturateConfig).
func Saturate(ctx context.Context, cfg SaturateConfig) (*Saturation, error) {
	cfg.defaults()
	f, err := prepare(ctx, &cfg.Config)
	if err != nil {
		return nil, err
	}
	out := &Saturation{Enrolled: f.res.Enrolled}
	step := func(rate float64) Step {
		p := f.reportPhase(ctx, rate, cfg.StepDuration, nil)
		out.Acked += p.acked
		s := Step{Offered: rate, Achieved: p.perSecond, P50: p.p50, P99: p.p99, Errors: p.errs}
		switch {
		case p.errs > 0:
			s.Why = fmt.Sprintf("%d errors (%s)", p.errs, p.firstErr)
			if out.FirstError == "" {
				out.FirstError = p.firstErr
			}
		case p.p99 > cfg.MaxP99:
			s.Why = fmt.Sprintf("p99 %v over %v", p.p99.Round(time.Millisecond), cfg.MaxP99)
		case p.perSecond < 0.95*rate:
			s.Why = fmt.Sprintf("%.0f%% of the offered rate acknowledged", 100*p.perSecond/rate)
		default:
			s.Held = true
		}
		out.Steps = append(out.Steps, s)
		if s.Held && s.Achieved > out.Max.Achieved {
			out.Max = s
		}
		if cfg.Step != nil {
			cfg.Step(s)
		}
		return s
	}
	good, bad := 0.0, 0.0
	for rate := cfg.StartRate; len(out.Steps) < cfg.MaxSteps && ctx.Err() == nil; rate *= cfg.Factor {
		if s := step(rate); !s.Held {
			bad = rate
			break
		}
		good = rate
	}
	for i := 0; i < cfg.Refine && bad > 0 && good > 0 && ctx.Err() == nil; i++ {
		mid := (good + bad) / 2
		if step(mid).Held {
			good = mid
		} else {
			bad = mid
		}
	}
	return out, ctx.Err()
}
