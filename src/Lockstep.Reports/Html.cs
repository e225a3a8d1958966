using System.Net;
using System.Text;

namespace Lockstep.Reporting;

/// <summary>
/// Self-contained HTML pages (inline CSS, no scripts, nothing fetched at view time): the interleaving viewer of one
/// execution (one lane per task, time flowing down, each run of a task a box, the violating step highlighted with the
/// kernel log beside it) and the check matrix whose violated cells link to their traces, embedded in the page.
/// </summary>
public static class Html
{
    /// <summary>The viewer page of one explained execution.</summary>
    public static string Explain(ExplainedTrace trace)
    {
        var sb = new StringBuilder();
        Begin(sb, $"lockstep explain {trace.Proposal} {trace.Config} {trace.Scenario}");
        sb.Append("<header><h1>lockstep explain</h1>");
        Summary(sb, trace, "t0");
        sb.Append("</header>\n<main>\n");
        TraceView(sb, trace, "t0");
        sb.Append("</main>\n");
        End(sb);
        return sb.ToString();
    }

    /// <summary>
    /// The check page: the verdict matrix (each violated cell a link to the trace of its first new, else first, finding),
    /// the bounded runs, every finding with its trace link and token, and every trace embedded.
    /// </summary>
    public static string Check(CheckResults run, IReadOnlyDictionary<string, ExplainedTrace> traces)
    {
        var ids = new Dictionary<string, string>();
        foreach (var token in run.Cells.SelectMany(c => c.All).Select(f => f.Token).Distinct())
            if (traces.ContainsKey(token)) ids[token] = $"t{ids.Count + 1}";
        var sb = new StringBuilder();
        Begin(sb, "lockstep check");
        sb.Append("<header><h1>lockstep check</h1>");
        sb.Append($"<p class=\"meta\">{run.Cells.Count} cells in {run.Elapsed.TotalSeconds:0.0} s; ")
          .Append($"{run.Violated.Count()} violated, {run.Cells.Count(c => c.Verdict == "bounded")} bounded. {E(run.Legend)}</p>");
        sb.Append("</header>\n<main>\n<table class=\"matrix\" id=\"matrix\"><thead><tr><th>proposal / config</th>");
        foreach (var p in run.Properties) sb.Append($"<th title=\"{E(PropertyText(p))}\">{E(p)}</th>");
        sb.Append("<th>executions</th></tr></thead><tbody>\n");
        foreach (var row in run.Cells.GroupBy(c => (c.Proposal, c.Config)))
        {
            sb.Append($"<tr><th class=\"row\">{E(row.Key.Proposal)} {E(row.Key.Config)}</th>");
            foreach (var p in run.Properties)
            {
                var c = row.FirstOrDefault(x => x.Property == p);
                if (c == null) { sb.Append("<td></td>"); continue; }
                var cellId = $"cell-{Id(c.Proposal)}-{Id(c.Config)}-{Id(c.Property)}";
                var css = c.Verdict switch { "violated" => "xx", "holds" => "ok", "bounded" => "bd", _ => "unknown" };
                var title = string.Join("\n", c.All.Select(f => $"{Change(f)}[{f.Scenario}] {f.Headline}"));
                var first = c.New.FirstOrDefault() ?? c.Findings.FirstOrDefault() ?? c.Fixed.FirstOrDefault();
                var mark = first != null && ids.TryGetValue(first.Token, out var tid) ? $"<a href=\"#{tid}\">{E(c.Mark)}</a>" : E(c.Mark);
                sb.Append($"<td class=\"{css}\" id=\"{cellId}\"{(title.Length > 0 ? $" title=\"{E(title)}\"" : "")}>{mark}</td>");
            }
            var any = row.First();
            sb.Append($"<td class=\"execs\">{any.Executions} ({(any.Exhaustive ? "exhaustive" : "bounded")})</td></tr>\n");
        }
        sb.Append("</tbody></table>\n");
        var bounded = run.Cells.GroupBy(c => (c.Proposal, c.Config)).Where(g => g.First().Bounded.Count > 0).ToList();
        if (bounded.Count > 0)
        {
            sb.Append("<h2>Bounded runs</h2>\n<ul class=\"bounded\">\n");
            foreach (var row in bounded)
                foreach (var b in row.First().Bounded)
                    sb.Append($"<li><b>{E(row.Key.Proposal)} {E(row.Key.Config)}</b> [{E(b.Scenario)}] bounded: {E(b.Text)}</li>\n");
            sb.Append("</ul>\n");
        }
        if (run.Cells.Any(c => c.All.Any()))
        {
            sb.Append("<h2>Findings</h2>\n<ul class=\"violations\">\n");
            foreach (var c in run.Cells)
                foreach (var f in c.All)
                {
                    var link = ids.TryGetValue(f.Token, out var tid) ? $"<a href=\"#{tid}\">trace</a>" : "";
                    var change = f.Change is { } ch ? $"<span class=\"change {JsonReport.ChangeName(ch)}\">{JsonReport.ChangeName(ch)}</span> " : "";
                    sb.Append($"<li><b>{E(c.Proposal)} {E(c.Config)} {E(c.Property)}</b> {change}[{E(f.Scenario)}] {E(f.Headline)} {link}")
                      .Append($"<br><span class=\"sig\">{E(f.Signature)}; {f.Executions} executions; found by {E(f.FoundBy)}</span>")
                      .Append($"<br><code class=\"token\">{E(f.Token)}</code></li>\n");
                }
            sb.Append("</ul>\n");
        }
        foreach (var (token, tid) in ids)
        {
            var trace = traces[token];
            sb.Append($"<section class=\"embedded\" id=\"{tid}\"><a class=\"back\" href=\"#matrix\">back to the matrix</a>");
            sb.Append($"<h2>{E(trace.Proposal)} {E(trace.Config)} · {E(trace.Scenario)}</h2>");
            Summary(sb, trace, tid);
            TraceView(sb, trace, tid);
            sb.Append("</section>\n");
        }
        sb.Append("</main>\n");
        End(sb);
        return sb.ToString();
    }

    private static string Change(CellFinding f) => f.Change is { } c ? JsonReport.ChangeName(c) + " " : "";

    private static void Summary(StringBuilder sb, ExplainedTrace trace, string id)
    {
        sb.Append("<dl class=\"header\">");
        foreach (var (k, v) in trace.Header) sb.Append($"<dt>{E(k)}</dt><dd>{E(v)}</dd>");
        sb.Append($"<dt>token</dt><dd><code class=\"token\">{E(trace.Token)}</code></dd></dl>\n");
        if (trace.Divergence != null) sb.Append($"<p class=\"warning\">replay diverged: {E(trace.Divergence)}</p>\n");
        if (trace.Findings.Count == 0) { sb.Append("<p class=\"clean\">This execution reports nothing.</p>\n"); return; }
        sb.Append("<ul class=\"findings\">");
        for (var i = 0; i < trace.Findings.Count; i++)
        {
            var f = trace.Findings[i];
            var (fn, file) = KernelSources.Locate(f.Stack);
            var where = fn != null ? $" in <code>{E(fn)}</code>{(file != null ? $" ({E(file)})" : "")}" : "";
            var by = f.Task != null ? $" by {E(f.Task)}" : "";
            sb.Append($"<li><a href=\"#{id}-v{i}\"><span class=\"props\">{E(string.Join(",", f.Properties))}</span> {E(f.Headline)}</a>{by}{where}</li>");
        }
        sb.Append("</ul>\n");
    }

    /// <summary>The lanes: a column per task, a row per run of consecutive steps of one task, and the kernel log beside the violating step.</summary>
    private static void TraceView(StringBuilder sb, ExplainedTrace trace, string id)
    {
        var lanes = trace.Lanes;
        var laneIndex = lanes.Select((l, i) => (l.Thread, i)).ToDictionary(x => x.Thread, x => x.i);
        var highlighted = new Dictionary<int, List<int>>();   // step index -> findings
        for (var f = 0; f < trace.Findings.Count; f++)
            foreach (var h in trace.Findings[f].Highlight)
            {
                if (!highlighted.TryGetValue(h, out var list)) highlighted[h] = list = new List<int>();
                list.Add(f);
            }
        var reportAt = new Dictionary<int, List<int>>();   // step index -> findings whose report sits in that row
        var unplaced = new List<int>();
        for (var f = 0; f < trace.Findings.Count; f++)
        {
            if (trace.Findings[f].Highlight.Count == 0) { unplaced.Add(f); continue; }
            var at = trace.Findings[f].Highlight[0];
            if (!reportAt.TryGetValue(at, out var list)) reportAt[at] = list = new List<int>();
            list.Add(f);
        }

        sb.Append($"<div class=\"trace\" id=\"{id}-trace\"><table class=\"lanes\" style=\"--lanes:{lanes.Count}\"><thead><tr><th class=\"stepcol\">step</th>");
        foreach (var l in lanes) sb.Append($"<th class=\"lane\" data-thread=\"{l.Thread}\">{E(l.Name)}</th>");
        sb.Append("<th class=\"logcol\">kernel log</th></tr></thead><tbody>\n");
        var steps = trace.Steps;
        var last = new Dictionary<int, TaskContext?>();
        for (var i = 0; i < steps.Count;)
        {
            // a row is a run of one task's steps; a reported step starts a row of its own, so its log sits beside it
            var j = i + 1;
            while (j < steps.Count && steps[j].Thread == steps[i].Thread && !reportAt.ContainsKey(j)) j++;
            var thread = steps[i].Thread;
            var slice = steps.Skip(i).Take(j - i).ToList();
            var violating = slice.Any(s => highlighted.ContainsKey(s.Index));
            var first = slice[0].Step;
            var lastStep = slice[^1].Step;
            sb.Append($"<tr class=\"slice{(violating ? " has-violation" : "")}\"><td class=\"stepcol\">{first}{(lastStep != first ? $"–{lastStep}" : "")}</td>");
            for (var l = 0; l < lanes.Count; l++)
            {
                if (l != laneIndex[thread]) { sb.Append("<td class=\"lane empty\"></td>"); continue; }
                sb.Append($"<td class=\"lane\"><div class=\"box{(violating ? " violating-box" : "")}\" data-task=\"{E(lanes[l].Name)}\">");
                sb.Append($"<div class=\"box-title\">{E(lanes[l].Name)}</div>");
                var prev = last.GetValueOrDefault(thread);
                var shownAtTop = false;
                foreach (var s in slice)
                {
                    if (!s.IsShown) continue;
                    var isHit = highlighted.TryGetValue(s.Index, out var hits);
                    sb.Append($"<div class=\"ev k-{s.Kind.ToString().ToLowerInvariant()}{(isHit ? " violating" : "")}\" id=\"{id}-e{s.Index}\" data-step=\"{s.Step}\" style=\"--depth:{Math.Min(s.Depth, 12)}\">");
                    var shown = s.Text.Length <= 96 ? E(s.Text) : $"{E(s.Text[..93])}&#8230;";
                    var full = s.Text.Length <= 96 ? "" : $" title=\"{E(s.Text)}\"";
                    sb.Append($"<span class=\"n\">{s.Step}</span><span class=\"kind\">{KindLabel(s.Kind)}</span><span class=\"t\"{full}>{shown}</span></div>");
                    if (s.Context != null && (!shownAtTop || !s.Context.SameBits(prev) || isHit))
                    {
                        Context(sb, s.Context, prev, full: !shownAtTop || isHit);
                        shownAtTop = true;
                    }
                    if (s.Context != null) prev = s.Context;
                    if (isHit)
                        foreach (var f in hits!)
                        {
                            var anchor = trace.Findings[f].Highlight[0] == s.Index ? $" id=\"{id}-v{f}\"" : "";
                            sb.Append($"<div class=\"marker\"{anchor}>&#9888; {E(string.Join(",", trace.Findings[f].Properties))}: {E(trace.Findings[f].Headline)}</div>");
                        }
                }
                last[thread] = prev;
                sb.Append("</div></td>");
            }
            sb.Append("<td class=\"logcol\">");
            foreach (var s in slice)
                if (reportAt.TryGetValue(s.Index, out var fs))
                    foreach (var f in fs) Report(sb, trace.Findings[f], primary: f == 0);
            sb.Append("</td></tr>\n");
            i = j;
        }
        if (unplaced.Count > 0)
        {
            sb.Append($"<tr class=\"slice has-violation\"><td class=\"stepcol\">end</td><td class=\"lane\" colspan=\"{lanes.Count}\">");
            foreach (var f in unplaced)
                sb.Append($"<div class=\"marker\" id=\"{id}-v{f}\">&#9888; {E(string.Join(",", trace.Findings[f].Properties))}: {E(trace.Findings[f].Headline)}</div>");
            sb.Append("</td><td class=\"logcol\">");
            foreach (var f in unplaced) Report(sb, trace.Findings[f], primary: f == 0);
            sb.Append("</td></tr>\n");
        }
        sb.Append("</tbody></table></div>\n");
    }

    private static void Report(StringBuilder sb, TraceFinding f, bool primary)
    {
        var (fn, file) = KernelSources.Locate(f.Stack);
        var where = fn != null ? $" · {fn}{(file != null ? $" ({file})" : "")}" : "";
        sb.Append($"<details class=\"report{(primary ? " primary" : "")}\"{(primary ? " open" : "")}><summary class=\"report-title\">{E(string.Join(",", f.Properties))} · {E(f.Headline)}{E(where)}</summary>");
        if (f.Context != null) sb.Append($"<div class=\"report-ctx\">{E(f.Context.Bits)}</div>");
        sb.Append($"<pre class=\"kernel-log\">{E(f.Text.TrimEnd())}</pre></details>");
    }

    /// <summary>The context bits that are set or just changed (all of them at a box's first line); "preemptible" when none is.</summary>
    private static void Context(StringBuilder sb, TaskContext c, TaskContext? prev, bool full)
    {
        sb.Append("<div class=\"ctx\">");
        var any = false;
        void Bit(string name, string value, bool hot, bool changed)
        {
            if (!hot && !changed) return;
            Chip(sb, name, value, hot, changed);
            any = true;
        }
        Bit("preempt_count", c.PreemptCount.ToString("x"), c.PreemptCount != 0, prev != null && prev.PreemptCount != c.PreemptCount);
        Bit("non_block", c.NonBlock.ToString(), c.NonBlock != 0, prev != null && prev.NonBlock != c.NonBlock);
        Bit("rcu", c.RcuDepth.ToString(), c.RcuDepth != 0, prev != null && prev.RcuDepth != c.RcuDepth);
        Bit("irqs", c.IrqsDisabled ? "off" : "on", c.IrqsDisabled, prev != null && prev.IrqsDisabled != c.IrqsDisabled);
        Bit("migrate_disable", c.MigrationDisabled.ToString(), c.MigrationDisabled != 0, prev != null && prev.MigrationDisabled != c.MigrationDisabled);
        if (!any && full) sb.Append("<span class=\"chip\" data-bit=\"none\">preemptible, irqs on</span>");
        if (c.HeldLocks.Count > 0 && (full || prev == null || !prev.HeldLocks.SequenceEqual(c.HeldLocks)))
            sb.Append($"<span class=\"held\">holds {E(string.Join(", ", c.HeldLocks))}</span>");
        sb.Append("</div>");
    }

    private static void Chip(StringBuilder sb, string name, string value, bool hot, bool changed)
        => sb.Append($"<span class=\"chip{(hot ? " hot" : "")}{(changed ? " changed" : "")}\" data-bit=\"{name}\">{name} {E(value)}</span>");

    private static string KindLabel(StepKind k) => k switch
    {
        StepKind.Start => "start",
        StepKind.Yield => "yield",
        StepKind.Call => "call",
        StepKind.Lock => "lock",
        StepKind.Unlock => "unlock",
        StepKind.Read => "read",
        StepKind.Write => "write",
        StepKind.Update => "update",
        StepKind.Context => "context",
        _ => "note",
    };

    private static string PropertyText(string p) => Lockstep.Models.Properties.All.TryGetValue(p, out var t) ? t : p;

    private static string Id(string s) => new(s.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-').ToArray());

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static void Begin(StringBuilder sb, string title)
    {
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        sb.Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        sb.Append($"<title>{E(title)}</title>\n<style>{Css}</style></head>\n<body>\n");
    }

    private static void End(StringBuilder sb) => sb.Append("<footer>Generated by lockstep. Self-contained: no scripts, nothing fetched.</footer>\n</body></html>\n");

    private const string Css = """
        :root { --fg:#1d1f21; --muted:#6a6f75; --line:#d8dce0; --bg:#fbfbfc; --hit:#c62828; --hitbg:#fdecea; }
        * { box-sizing: border-box; }
        body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; padding: 16px 20px; }
        h1 { font-size: 20px; margin: 0 0 8px; } h2 { font-size: 16px; margin: 18px 0 8px; }
        code, pre, .token, .ev, .kernel-log { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
        dl.header { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0 0 8px; }
        dl.header dt { color: var(--muted); } dl.header dd { margin: 0; }
        .token { font-size: 12px; word-break: break-all; }
        .findings { margin: 6px 0 12px; padding-left: 20px; } .findings a { color: var(--hit); font-weight: 600; text-decoration: none; }
        .props { display: inline-block; background: var(--hit); color: #fff; border-radius: 3px; padding: 0 5px; margin-right: 4px; font-size: 12px; }
        .warning { color: #8a5300; } .clean { color: #2e7d32; }
        .trace { overflow-x: auto; border: 1px solid var(--line); background: #fff; }
        table.lanes { border-collapse: collapse; table-layout: fixed; width: max(100%, calc(var(--lanes) * 320px + 60px + 560px)); }
        table.lanes th { position: sticky; top: 0; background: #eef1f4; border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; font-size: 13px; z-index: 1; }
        th.stepcol, td.stepcol { width: 60px; color: var(--muted); font-size: 12px; text-align: right; padding: 4px 8px; vertical-align: top; }
        th.logcol, td.logcol { width: 560px; vertical-align: top; padding: 4px 8px; }
        td.lane { vertical-align: top; padding: 3px 6px; border-left: 1px dashed var(--line); }
        tr.slice { border-top: 1px solid #f0f2f4; }
        .box { border: 1px solid #b7c3cf; border-radius: 6px; background: #f7f9fb; padding: 3px 6px 5px; }
        .box-title { font-size: 11px; color: var(--muted); margin-bottom: 2px; }
        .box.violating-box { border: 2px solid var(--hit); background: var(--hitbg); }
        .ev { display: flex; gap: 6px; font-size: 12px; padding: 1px 0 1px calc(var(--depth) * 8px); white-space: pre-wrap; word-break: break-word; }
        .ev .n { color: var(--muted); min-width: 2.5em; text-align: right; flex: none; }
        .ev .kind { flex: none; font-size: 9px; text-transform: uppercase; border-radius: 3px; padding: 0 2px; align-self: center; min-width: 4.6em; text-align: center; background: #e8eaed; color: #444; }
        .k-call .t { color: #1f4e99; } .k-call .kind { background: #e3ecfa; color: #1f4e99; }
        .k-lock .kind { background: #2e7d32; color: #fff; } .k-lock .t { color: #1b5e20; font-weight: 600; }
        .k-unlock .kind { background: #a5d6a7; color: #1b5e20; } .k-unlock .t { color: #2e7d32; }
        .k-read .kind { background: #e1f5fe; color: #01579b; } .k-write .kind, .k-update .kind { background: #f3e5f5; color: #6a1b9a; }
        .k-context .kind { background: #ffe0b2; color: #8a4b00; } .k-context .t { color: #8a4b00; }
        .k-note .t { font-style: italic; color: #5d4037; } .k-start .kind { background: #455a64; color: #fff; }
        .ev.violating { background: var(--hit); color: #fff; border-radius: 3px; outline: 2px solid var(--hit); }
        .ev.violating .t, .ev.violating .n { color: #fff; }
        .marker { color: var(--hit); font-weight: 700; font-size: 12px; margin: 2px 0; }
        .ctx { display: flex; flex-wrap: wrap; gap: 3px; margin: 1px 0 3px 3.2em; }
        .chip { font-size: 10px; border-radius: 8px; padding: 0 6px; background: #eceff1; color: #546e7a; }
        .chip.hot { background: #ffe0b2; color: #8a4b00; } .chip.changed { outline: 1px solid #f57c00; }
        .held { font-size: 10px; color: #1b5e20; }
        .report { border: 1px solid var(--hit); border-radius: 6px; background: #fff; margin: 2px 0 6px; }
        .report.primary { border-width: 2px; }
        .report-title { background: #f8d7da; color: var(--hit); font-weight: 600; padding: 2px 8px; font-size: 12px; cursor: pointer; }
        .report.primary .report-title { background: var(--hit); color: #fff; }
        .report-ctx { font-size: 11px; color: #8a4b00; padding: 2px 8px; border-bottom: 1px solid var(--line); }
        pre.kernel-log { margin: 0; padding: 6px 8px; font-size: 11.5px; white-space: pre; overflow-x: auto; max-height: 80vh; }
        table.matrix { border-collapse: collapse; background: #fff; }
        table.matrix th, table.matrix td { border: 1px solid var(--line); padding: 3px 8px; text-align: center; font-size: 13px; }
        table.matrix th.row { text-align: left; font-weight: normal; font-family: ui-monospace, monospace; }
        td.ok { color: #2e7d32; } td.xx { background: var(--hit); } td.xx, td.xx a { color: #fff; font-weight: 700; }
        td.unknown { background: #fff3cd; } td.execs { color: var(--muted); text-align: right; }
        td.bd { color: #8a5300; background: #fff8e1; }
        .change { font-size: 11px; border-radius: 3px; padding: 0 4px; background: #e8eaed; } .change.new { background: var(--hit); color: #fff; }
        .change.fixed { background: #2e7d32; color: #fff; } .sig { color: var(--muted); font-size: 12px; }
        .violations li { margin-bottom: 6px; }
        section.embedded { display: none; border-top: 3px solid var(--hit); margin-top: 20px; padding-top: 8px; }
        section.embedded:target { display: block; }
        a.back { float: right; font-size: 12px; }
        footer { color: var(--muted); font-size: 11px; margin-top: 16px; }
        """;
}
