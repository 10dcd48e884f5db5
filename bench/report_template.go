package bench

import "html/template"

var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

// reportHTML is the page. Its policy allows inline styles and nothing
// else: no script, and no request for anything once the file is open.
const reportHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1.2em; color: #1a1a1a; }
h1 { font-size: 1.5em; margin: 0 0 .6em; }
h2 { font-size: 1.15em; margin: 1.8em 0 .5em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
h3 { font-size: 1em; margin: 1.2em 0 .3em; }
.banner { border: 3px solid; border-radius: 6px; padding: .8em 1em; margin: 0 0 1em; }
.banner.tcg { border-color: #D55E00; background: #fff1e8; }
.banner.kvm { border-color: #009E73; background: #eafaf4; }
.banner.other { border-color: #999; background: #f4f4f4; }
.banner .mode { font-size: 1.3em; font-weight: 700; }
.banner.tcg .mode { color: #a64400; }
.notes { background: #fffbe6; border-left: 4px solid #E69F00; padding: .5em 1em; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1em; margin: 0; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; font-size: .93em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .35em .5em; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ratio { font-variant-numeric: tabular-nums; white-space: nowrap; font-weight: 600; }
.missed { color: #a64400; }
.args { color: #555; font-size: .9em; }
svg.chart { width: 100%; height: auto; display: block; }
.muted { color: #666; }
.key { display: inline-block; padding: 0 .4em; border-radius: 3px; color: #fff; font-weight: 600; }
.key.tcg { background: #D55E00; } .key.kvm { background: #009E73; } .key.other { background: #999; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>

{{range .Banners}}
<div class="banner {{if .Emulated}}tcg{{else if .Hardware}}kvm{{else}}other{{end}}">
<div class="mode">Acceleration: {{.Mode}}{{if .Emulated}} (emulation){{end}}</div>
{{if .Emulated}}<p><strong>TCG emulation: these are emulation numbers, not KVM overhead.</strong> QEMU translated every guest instruction in software, so the ratios for these variants measure what emulation costs and say nothing about what virtualization costs under KVM.</p>
{{else if .Hardware}}<p>KVM hardware virtualization: the ratios for these variants are the overhead of running in a KVM guest of this shape.</p>
{{else}}<p>The acceleration mode was not recognised as KVM or TCG; read these ratios with that in mind.</p>
{{end}}
<p>Why: {{or .Reason "no reason was recorded"}}</p>
<p>Variants: {{range $i, $v := .Variants}}{{if $i}}; {{end}}{{$v}}{{end}}.</p>
</div>
{{else}}
<div class="banner other"><div class="mode">No VM results</div><p>Nothing was measured, so there is no acceleration mode to report.</p></div>
{{end}}

{{if .Notes}}<div class="notes">{{range .Notes}}<p>{{.}}</p>{{end}}</div>{{end}}

<h2>Host and run</h2>
<dl class="facts">
<dt>Host</dt><dd>{{or .Host.Hostname "not recorded"}}</dd>
<dt>CPU</dt><dd>{{or .Host.CPUModel "not recorded"}}{{with .Host.Cores}}, {{.}} cores{{end}}</dd>
<dt>Memory</dt><dd>{{or .Memory "not recorded"}}</dd>
<dt>Kernel</dt><dd>{{or .Host.Kernel "not recorded"}}</dd>
<dt>libvirt</dt><dd>{{or .Host.Libvirt "not recorded"}}</dd>
<dt>QEMU</dt><dd>{{or .Host.QEMU "not recorded"}}</dd>
<dt>URI</dt><dd>{{or .Host.URI "not recorded"}}</dd>
<dt>Started</dt><dd>{{or .Run.Started "not recorded"}}</dd>
<dt>Duration</dt><dd>{{.Run.Duration}} of a {{.Run.Budget}} budget</dd>
<dt>Target width</dt><dd>{{.Run.Target}} (relative half-width of the ratio's interval)</dd>
<dt>Pairs</dt><dd>{{.Run.MinPairs}} to {{.Run.MaxPairs}} per workload and variant, after {{.Run.Warmup}} warm-up runs per side</dd>
</dl>

<h2>VM/native ratios</h2>
{{if .Rows}}
<p class="muted">Each pair ran the workload natively and in the VM back to back, alternating which went first. The ratio is the geometric mean of the per-pair ratios, with a Student-t interval on their logarithms. For a higher-is-better figure, 0.8 means the VM does 80% of native.</p>
<table>
<thead><tr><th>workload</th><th>variant</th><th>accel</th><th>unit</th><th>native mean</th><th>VM mean</th><th>{{.Interval}}</th><th>pairs</th><th>target</th></tr></thead>
<tbody>
{{range .Rows}}<tr>
<td>{{.Workload}}{{if .Args}}<div class="args">{{.Args}}</div>{{end}}</td>
<td>{{.Variant}}</td>
<td>{{.Accel}}</td>
<td>{{.Unit}}</td>
<td class="num">{{.NativeMean}}</td>
<td class="num">{{.VMMean}}</td>
<td><span class="ratio" id="{{.ID}}" data-estimate="{{.Estimate}}" data-low="{{.Low}}" data-high="{{.High}}">{{.Text}}</span></td>
<td class="num">{{.Pairs}}</td>
<td>{{if .Converged}}reached{{else}}<span class="missed">not reached</span>{{end}}<div class="args">{{.Stop}}</div></td>
</tr>
{{end}}</tbody>
</table>
<h3>Ratios and intervals</h3>
{{.RatioSVG}}
<p class="muted">Dot: the ratio; bar: its interval (none is drawn for a single pair). Colour: <span class="key tcg">TCG</span> <span class="key kvm">KVM</span> <span class="key other">other</span>.</p>
{{else}}
<p>No results were measured.</p>
{{end}}

{{if .Samples}}
<h2>Runs</h2>
<p class="muted">Every measured run, native above and VM below. Runs far from the rest widen the interval; a drift shows as a spread that the alternating order cancels in the ratio.</p>
{{range .Samples}}
<h3>{{.Title}} <span class="muted">({{.Native}} native, {{.VM}} VM runs)</span></h3>
{{if .NoSamplesShown}}<p>No finite samples to draw.</p>{{else}}{{.SVG}}{{end}}
{{end}}
{{end}}

{{with .Boot}}
<h2>Boot time</h2>
<p>{{.N}} VMs, create to agent ready: p50 {{.P50}}, p90 {{.P90}}, slowest {{.Max}} (nearest-rank percentiles).{{if .MixedAccel}} The boots span more than one acceleration mode, so these percentiles mix them.{{end}}</p>
{{.SVG}}
{{end}}
</body>
</html>
`
