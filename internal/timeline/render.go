package timeline

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	bridge "github.com/automattic/jetmon-bridge"
)

// Geometry of the drawing, in SVG user units (pixels).
const (
	width      = 1100.0
	labelWidth = 210.0
	rightPad   = 30.0
	plotWidth  = width - labelWidth - rightPad
	top        = 64.0
	rowHeight  = 26.0
	rowPitch   = 38.0
	maxTicks   = 8
	minBand    = 2.0 // narrowest band drawn
	fontFamily = "DejaVu Sans, Helvetica, Arial, sans-serif"
)

// Colours of the statuses, chosen to read at a glance and to stay apart for
// the common forms of colour blindness (green and red differ in lightness).
var statusColour = map[bridge.Status]string{
	bridge.StatusRunning:       "#2e9e44",
	bridge.StatusDown:          "#f5a623",
	bridge.StatusConfirmedDown: "#c62828",
}

const unknownColour = "#c8c8c8"

// tickSteps are the axis steps a chart may use, smallest first.
var tickSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
}

// Render writes c as a standalone SVG document. Every status interval of
// every row up to c.AsOf is one <rect class="band STATUS">, every uncovered
// stretch one <rect class="uncovered" data-from=T data-to=T> (RFC 3339
// times, for programs reading the drawing); each carries a <title> that
// browsers show on hover. When the window reaches past c.AsOf a
// <line class="asof"> marks the moment the chart was drawn.
func Render(w io.Writer, c Chart) error {
	if !c.Since.Before(c.Until) {
		return fmt.Errorf("%w: since must be before until", ErrRequest)
	}
	bw := bufio.NewWriter(w)
	d := drawing{w: bw, since: c.Since, until: c.Until, bandsEnd: c.bandsEnd(), asOf: c.AsOf}
	axisY := top + float64(len(c.Rows))*rowPitch + 2
	height := axisY + 90
	d.printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	d.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="%s">`+"\n", width, height, width, height, fontFamily)
	d.printf(`<defs><pattern id="hatch" patternUnits="userSpaceOnUse" width="7" height="7" patternTransform="rotate(45)">` +
		`<rect width="7" height="7" fill="#ffffff" fill-opacity="0.55"/><line x1="0" y1="0" x2="0" y2="7" stroke="#555555" stroke-width="2.5"/></pattern></defs>` + "\n")
	d.printf(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	d.text(16, 26, 16, "start", "bold", "#222222", "Site status by blog")
	subtitle := fmt.Sprintf("%s to %s UTC (%s)", c.Since.Format(time.RFC3339Nano), c.Until.Format(time.RFC3339Nano), roundSpan(c.Until.Sub(c.Since)))
	if !c.AsOf.IsZero() {
		subtitle += ", drawn at " + c.AsOf.Format(time.RFC3339)
	}
	d.text(16, 46, 12, "start", "normal", "#555555", subtitle)

	for i, row := range c.Rows {
		d.row(top+float64(i)*rowPitch, row)
	}
	d.axis(top-4, axisY)
	d.asOfMarker(top-4, axisY)
	d.legend(axisY + 62)
	d.printf("</svg>\n")
	if d.err != nil {
		return d.err
	}
	return bw.Flush()
}

// drawing writes SVG elements and keeps the first write error.
type drawing struct {
	w            *bufio.Writer
	since, until time.Time
	// bandsEnd is where status bands stop (the chart's AsOf when the window
	// reaches into the future); asOf is when the chart was drawn.
	bandsEnd, asOf time.Time
	err            error
}

func (d *drawing) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.w, format, args...)
	}
}

// x maps a time to its horizontal position, clamped to the plot.
func (d *drawing) x(t time.Time) float64 {
	f := float64(t.Sub(d.since)) / float64(d.until.Sub(d.since))
	return labelWidth + min(max(f, 0), 1)*plotWidth
}

func (d *drawing) text(x, y, size float64, anchor, weight, colour, s string) {
	d.printf(`<text x="%.1f" y="%.1f" font-size="%.0f" text-anchor="%s" font-weight="%s" fill="%s">%s</text>`+"\n",
		x, y, size, anchor, weight, colour, escape(s))
}

// row draws one blog: its label, its status bands, and hatching over the
// stretches the journal does not cover.
func (d *drawing) row(y float64, r Row) {
	d.text(labelWidth-12, y+rowHeight/2+1, 13, "end", "bold", "#222222", fmt.Sprintf("blog %d", r.BlogID))
	if r.URL != "" {
		d.text(labelWidth-12, y+rowHeight/2+14, 10, "end", "normal", "#777777", shorten(r.URL, 34))
	}
	d.printf(`<g data-blog="%d">`+"\n", r.BlogID)
	// Slivers go on top, so a status that lasted no time at all (a flap
	// within one second) is not painted over by its neighbours.
	bands := r.Bands(d.since, d.bandsEnd)
	for pass := 0; pass < 2; pass++ {
		for _, b := range bands {
			if x0, x1 := d.x(b.From), d.x(b.To); (x1-x0 < minBand) == (pass == 1) {
				d.band(y, r.BlogID, b, x0, x1)
			}
		}
	}
	for _, u := range r.Uncovered {
		x0, x1 := d.x(u.Start), d.x(u.End)
		d.printf(`<rect class="uncovered" data-from="%s" data-to="%s" x="%.2f" y="%.1f" width="%.2f" height="%.0f" fill="url(#hatch)"><title>%s</title></rect>`+"\n",
			u.Start.Format(time.RFC3339Nano), u.End.Format(time.RFC3339Nano), x0, y, max(x1-x0, 1), rowHeight, escape(d.uncoveredTitle(u)))
	}
	d.printf(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.0f" fill="none" stroke="#888888" stroke-width="0.8"/>`+"\n",
		labelWidth, y, plotWidth, rowHeight)
	d.printf("</g>\n")
}

// uncoveredTitle says why a stretch is hatched: what the journal could not
// vouch for when the chart was drawn, and the future, which nobody can.
func (d *drawing) uncoveredTitle(u bridge.Span) string {
	const layout = time.RFC3339
	switch {
	case d.asOf.IsZero() || !u.End.After(d.asOf):
		return fmt.Sprintf("not covered by the journal from %s to %s: statuses here may be missing transitions",
			u.Start.Format(layout), u.End.Format(layout))
	case !u.Start.Before(d.asOf):
		return fmt.Sprintf("from %s to %s lies after the chart was drawn (%s): not known yet",
			u.Start.Format(layout), u.End.Format(layout), d.asOf.Format(layout))
	default:
		return fmt.Sprintf("not covered by the journal from %s to %s: when the chart was drawn (%s) the journal vouched only up to %s, and nothing after that moment is known yet",
			u.Start.Format(layout), u.End.Format(layout), d.asOf.Format(layout), u.Start.Format(layout))
	}
}

// asOfMarker draws a line at the moment the chart was drawn when the window
// reaches past it.
func (d *drawing) asOfMarker(top, bottom float64) {
	if d.asOf.IsZero() || !d.asOf.Before(d.until) || d.asOf.Before(d.since) {
		return
	}
	x := d.x(d.asOf)
	d.printf(`<line class="asof" x1="%.2f" y1="%.1f" x2="%.2f" y2="%.1f" stroke="#1565c0" stroke-width="1.5" stroke-dasharray="4 3"><title>%s</title></line>`+"\n",
		x, top, x, bottom, escape("drawn at "+d.asOf.Format(time.RFC3339)))
}

// band draws one status interval between x0 and x1.
func (d *drawing) band(y float64, blog uint64, b Band, x0, x1 float64) {
	if x1-x0 < minBand {
		x0 = min(x0, labelWidth+plotWidth-minBand)
		x1 = x0 + minBand
	}
	name, colour := b.Status.String(), statusColour[b.Status]
	if !b.Known {
		name, colour = "unknown", unknownColour
	}
	d.printf(`<rect class="band %s" x="%.2f" y="%.1f" width="%.2f" height="%.0f" fill="%s"><title>%s</title></rect>`+"\n",
		name, x0, y, x1-x0, rowHeight, colour, escape(fmt.Sprintf("blog %d %s from %s to %s (%s)",
			blog, strings.ReplaceAll(name, "_", " "), b.From.Format(time.RFC3339), b.To.Format(time.RFC3339), roundSpan(b.To.Sub(b.From)))))
}

// axis draws the time axis under the rows, with faint gridlines through
// them.
func (d *drawing) axis(gridTop, y float64) {
	span := d.until.Sub(d.since)
	step := tickSteps[len(tickSteps)-1]
	for _, s := range tickSteps {
		if span/s <= maxTicks {
			step = s
			break
		}
	}
	for span/step > maxTicks { // windows of years
		step *= 2
	}
	d.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333333" stroke-width="1"/>`+"\n", labelWidth, y, labelWidth+plotWidth, y)
	layout := "15:04"
	switch {
	case step < time.Minute:
		layout = "15:04:05"
	case step >= 24*time.Hour:
		layout = "Jan 2"
	}
	first := d.since.Truncate(step)
	if first.Before(d.since) {
		first = first.Add(step)
	}
	lastDay := ""
	for t := first; !t.After(d.until); t = t.Add(step) {
		x := d.x(t)
		d.printf(`<line x1="%.2f" y1="%.1f" x2="%.2f" y2="%.1f" stroke="#000000" stroke-opacity="0.12"/>`+"\n", x, gridTop, x, y)
		d.printf(`<line x1="%.2f" y1="%.1f" x2="%.2f" y2="%.1f" stroke="#333333"/>`+"\n", x, y, x, y+5)
		d.text(x, y+18, 11, "middle", "normal", "#333333", t.Format(layout))
		if day := t.Format("Jan 2"); step < 24*time.Hour && day != lastDay {
			d.text(x, y+32, 10, "middle", "normal", "#777777", day)
			lastDay = day
		}
	}
	d.text(labelWidth-32, y+18, 11, "end", "normal", "#777777", "UTC")
}

// legend explains the colours and the hatching.
func (d *drawing) legend(y float64) {
	x := labelWidth
	item := func(fill, label string) {
		d.printf(`<rect x="%.1f" y="%.1f" width="14" height="14" fill="%s" stroke="#888888" stroke-width="0.6"/>`+"\n", x, y-11, fill)
		d.text(x+20, y, 12, "start", "normal", "#333333", label)
		x += 32 + 7.2*float64(len(label))
	}
	item(statusColour[bridge.StatusRunning], "running")
	item(statusColour[bridge.StatusDown], "down")
	item(statusColour[bridge.StatusConfirmedDown], "confirmed down")
	item(unknownColour, "unknown")
	item("url(#hatch)", "not covered by the journal")
}

// roundSpan rounds a duration for people: to the second from a minute up,
// to the millisecond below.
func roundSpan(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

func shorten(s string, n int) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
