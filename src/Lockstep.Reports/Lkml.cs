using System.Text;
using Lockstep.Engine;
using Lockstep.Kernel;

namespace Lockstep.Reporting;

/// <summary>
/// Mail-ready plain text for a reply on LKML: what was checked, each report verbatim in the kernel's format, and the
/// interleaving as a short table in lockdep's "Possible unsafe locking scenario" style (a column per CPU).
/// </summary>
public static class Lkml
{
    /// <summary>Rows of the interleaving table at most; earlier rows are elided with "...".</summary>
    public const int MaxRows = 40;

    public static string Render(ExplainedTrace trace)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"Lockstep model check: proposal {trace.Proposal}, config {trace.Config}, scenario {trace.Scenario}");
        foreach (var (k, v) in trace.Header) sb.AppendLine($"  {k}: {v}");
        sb.AppendLine($"  replay: lockstep explain {trace.Token}");
        sb.AppendLine();
        if (trace.Findings.Count == 0) sb.AppendLine("This execution reports nothing.");
        else
        {
            var f = trace.Findings[0];
            sb.AppendLine(Headline(f));
            sb.AppendLine();
            foreach (var line in f.Text.TrimEnd().Split('\n')) sb.AppendLine(line.TrimEnd());
            sb.AppendLine();
            var more = trace.Findings.Skip(1).Select(Headline).Distinct().Where(h => h != Headline(f)).ToList();
            if (more.Count > 0)
            {
                sb.AppendLine("The same execution goes on to report:");
                foreach (var h in more) sb.AppendLine($"  {h}");
                sb.AppendLine();
            }
        }
        Interleaving(sb, trace);
        return sb.ToString();
    }

    private static string Headline(TraceFinding f)
    {
        var (fn, file) = KernelSources.Locate(f.Stack);
        return $"{string.Join(",", f.Properties)}: {f.Headline}" + (fn != null ? $" (in {fn}{(file != null ? $", {file}" : "")})" : "");
    }

    /// <summary>
    /// The interleaving in lockdep's table style: a column per task (CPU0, CPU1, ...), time flowing down, showing each
    /// task's entry function, lock operations, writes to shared state and the reporting step.
    /// </summary>
    public static void Interleaving(StringBuilder sb, ExplainedTrace trace)
    {
        // up to the step that reports the first finding: what happens after it is not part of the story
        var end = trace.Findings.Count > 0 && trace.Findings[0].Highlight.Count > 0 ? trace.Findings[0].Highlight.Max() : trace.Steps.Count - 1;
        var hits = new Dictionary<int, List<string>>();
        foreach (var f in trace.Findings)
            foreach (var h in f.Highlight.Where(h => h <= end))
            {
                if (!hits.TryGetValue(h, out var l)) hits[h] = l = new List<string>();
                l.Add(string.Join(",", f.Properties));
            }
        var lockNames = trace.Steps.Select(s => s.Data switch
        {
            LockOperation l => l.Lock,
            SrcuOperation o => o.Domain,
            _ => null,
        }).OfType<string>().ToHashSet();
        var rows = new List<(int Thread, string Text)>();
        foreach (var s in trace.Steps.Take(end + 1))
        {
            if (!s.IsShown) continue;
            string? text = s.Data switch
            {
                FunctionEntered when s.Depth == 0 => s.Text,
                LockOperation l when l.Call.StartsWith("lock_map_", StringComparison.Ordinal) => null,   // lockdep's annotations
                LockOperation { Outcome: LockOutcome.TrylockFailed } l => $"{l.Call}({l.Lock}) failed",
                LockOperation l => $"{l.Call}({l.Lock});",
                SrcuOperation { Op: SrcuOp.ReadLock or SrcuOp.ReadUnlock } => s.Text + ";",
                SrcuOperation => s.Text,
                ContextChange => s.Text + ";",
                SharedAccess a when a.Access != SharedAccessKind.Read && !IsNoise(a, lockNames) => s.Text,
                KernelTraceData or ThreadStarted or ThreadYielded or SharedAccess => null,
                _ when !s.Text.EndsWith("()", StringComparison.Ordinal) => s.Text,
                _ => null,
            };
            if (hits.TryGetValue(s.Index, out var props)) text = Clip(text ?? s.Text) + $"   <-- {string.Join(",", props.Distinct())}";
            else if (text != null) text = Clip(text);
            if (text != null) rows.Add((s.Thread, text));
        }
        // the boot task only sets up and joins: leave it out unless it is where something happened
        var involved = rows.Select(r => r.Thread).Distinct().ToList();
        var boot = trace.Lanes.FirstOrDefault()?.Thread ?? -1;
        if (involved.Count > 1 && !trace.Findings.SelectMany(f => f.Highlight).Any(h => trace.Steps[h].Thread == boot))
        {
            rows.RemoveAll(r => r.Thread == boot);
            involved.Remove(boot);
        }
        var columns = trace.Lanes.Where(l => involved.Contains(l.Thread)).ToList();
        if (columns.Count == 0) return;
        var elided = Math.Max(0, rows.Count - MaxRows);
        rows = rows.Skip(elided).ToList();
        var col = columns.Select((l, i) => (l.Thread, i)).ToDictionary(x => x.Thread, x => x.i);
        // lockdep's layout: entries two columns in, the CPU heading seven
        var widths = columns.Select(c => Math.Max(c.Name.Length + 4,
            rows.Where(r => r.Thread == c.Thread).Select(r => r.Text.Length + 2).DefaultIfEmpty(0).Max()) + 3).ToArray();
        string Row(IReadOnlyList<string> cells) => string.Concat(cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        sb.AppendLine(" Interleaving (a column per task, time flowing down; lockstep explain TOKEN has every step):");
        sb.AppendLine();
        sb.AppendLine(Row(columns.Select((_, i) => $"       CPU{i}").ToList()));
        sb.AppendLine(Row(columns.Select(_ => "       ----").ToList()));
        sb.AppendLine(Row(columns.Select(c => $"  ({c.Name})").ToList()));
        if (elided > 0) sb.AppendLine(Row(columns.Select(_ => "  ...").ToList()));
        foreach (var (thread, text) in rows)
        {
            var cells = Enumerable.Repeat("", col[thread] + 1).ToArray();
            cells[col[thread]] = "  " + text;
            sb.AppendLine(Row(cells));
        }
        sb.AppendLine();
        if (trace.Findings.Count > 0)
            sb.AppendLine($" *** {string.Join(",", trace.Findings[0].Properties)}: {trace.Findings[0].Headline} ***");
    }

    private static string Clip(string text) => text.Length <= 64 ? text : text[..61] + "...";

    /// <summary>
    /// Lock words (their lock operation is shown instead), thread exits, SRCU reader bookkeeping, and updates that left
    /// the value as it was (a failed trylock's or compare-exchange's).
    /// </summary>
    private static bool IsNoise(SharedAccess access, HashSet<string> lockNames)
    {
        var name = access.Object;
        return lockNames.Contains(name) || name.EndsWith(".exited", StringComparison.Ordinal) || name.EndsWith("readers", StringComparison.Ordinal)
            || access.Access == SharedAccessKind.Update && access.Unchanged;
    }
}
