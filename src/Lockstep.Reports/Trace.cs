using System.Text.RegularExpressions;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Reporting;

/// <summary>The kernel context of a task at one point of a trace: what might_sleep and lockdep look at.</summary>
public sealed record TaskContext(int PreemptCount, bool IrqsDisabled, int NonBlock, int RcuDepth, int MigrationDisabled,
    IReadOnlyList<string> HeldLocks, IReadOnlyList<string> Stack)
{
    /// <summary>The context of the task a simulated thread runs, or null for a thread that is no kernel task.</summary>
    public static TaskContext? Of(SimThread thread) => thread.Tag is TaskStruct t
        ? new TaskContext(t.preempt_count, t.irqs_disabled, t.non_block_count, t.rcu_read_lock_nesting, t.migration_disabled,
            t.held_locks.Select(h => h.Read != 0 ? h.Class.Name + " (read)" : h.Class.Name).ToArray(), t.stack.ToArray())
        : null;

    /// <summary>"preempt_count: 1, non_block: 1, RCU depth: 0, irqs: on" (the terms of the might_sleep splat).</summary>
    public string Bits => $"preempt_count: {PreemptCount:x}, non_block: {NonBlock}, RCU depth: {RcuDepth}, irqs: {(IrqsDisabled ? "off" : "on")}"
        + (MigrationDisabled != 0 ? $", migrate_disable: {MigrationDisabled}" : "");

    public bool SameBits(TaskContext? other) => other != null && other.PreemptCount == PreemptCount && other.IrqsDisabled == IrqsDisabled
        && other.NonBlock == NonBlock && other.RcuDepth == RcuDepth && other.MigrationDisabled == MigrationDisabled
        && other.HeldLocks.SequenceEqual(HeldLocks);
}

/// <summary>What one trace line is.</summary>
public enum StepKind { Start, Yield, Call, Lock, Unlock, Read, Write, Update, Note }

/// <summary>One line of a trace: a scheduled operation (start, read, write, update) or a note (a call, a lock operation, a message).</summary>
public sealed record TraceStep(int Index, int Step, int Thread, StepKind Kind, string Text, int Depth, TaskContext? Context)
{
    public bool IsOperation => Kind is StepKind.Start or StepKind.Yield or StepKind.Read or StepKind.Write or StepKind.Update;
}

/// <summary>A lane of the viewer: one simulated thread (a kernel task).</summary>
public sealed record Lane(int Thread, string Name);

/// <summary>
/// A report of the execution: the properties it breaks, the kernel-log text, the steps to highlight (the reporting task's
/// last step; for a deadlock the last step of every blocked task), the reporting task's context and call stack.
/// </summary>
public sealed record TraceFinding(IReadOnlyList<string> Properties, string Kind, string Headline, string Text, string? Task,
    IReadOnlyList<int> Highlight, TaskContext? Context, IReadOnlyList<string> Stack, IReadOnlyList<string>? LockChain)
{
    /// <summary>The innermost modelled kernel function of the reporting task, if any.</summary>
    public string? Function => Stack.Count > 0 ? Stack[^1] : null;
}

/// <summary>An execution re-run from its token with its trace, context and reports: what explain, the HTML viewer and LKML show.</summary>
public sealed record ExplainedTrace(
    string Token,
    string Proposal,
    string Config,
    string Scenario,
    IReadOnlyList<KeyValuePair<string, string>> Header,
    IReadOnlyList<Lane> Lanes,
    IReadOnlyList<TraceStep> Steps,
    IReadOnlyList<TraceFinding> Findings,
    string? Divergence);

/// <summary>Re-runs executions with tracing and the kernel context annotator.</summary>
public static class TraceCapture
{
    /// <summary>Every violated cell's execution of a check run re-run with its trace (one replay per distinct token).</summary>
    public static Dictionary<string, ExplainedTrace> ForCells(Registry registry, CheckResults results)
    {
        var traces = new Dictionary<string, ExplainedTrace>();
        foreach (var token in results.Violated.Select(c => c.Token).OfType<string>().Distinct())
            traces[token] = FromToken(registry, token);
        return traces;
    }

    /// <summary>The explained trace of a check token.</summary>
    public static ExplainedTrace FromToken(Registry registry, string token)
    {
        var r = Suite.Replay(registry, token, TaskContext.Of);
        var header = new List<KeyValuePair<string, string>>
        {
            new("proposal", $"{r.Proposal.Id} ({r.Proposal.Title}; {r.Proposal.Source})"),
            new("config", r.Config.Describe()),
            new("scenario", $"{r.Scenario.Id}: {r.Scenario.Description}"),
        };
        return Build(token, r.Proposal.Id, r.Config.Name, r.Scenario.Id, header, r.Replay, v => Suite.Classify(v, r.Scenario));
    }

    /// <summary>
    /// The explained trace of any model's execution (replayed with <see cref="Explorer.Replay"/> and the
    /// <see cref="TaskContext.Of"/> annotator); <paramref name="classify"/> names the properties of each violation.
    /// </summary>
    public static ExplainedTrace Build(string token, string proposal, string config, string scenario,
        IReadOnlyList<KeyValuePair<string, string>> header, ReplayResult replay,
        Func<Violation, IEnumerable<(string Property, Violation Report)>> classify)
    {
        var steps = replay.Trace.Select((e, i) => Classify(i, e)).ToList();
        var lanes = replay.Trace.GroupBy(e => e.Thread).OrderBy(g => g.Key).Select(g => new Lane(g.Key, g.First().ThreadName)).ToList();
        var findings = new List<TraceFinding>();
        foreach (var v in replay.Violations)
        {
            var classes = classify(v).ToList();
            var props = classes.Select(c => c.Property).Distinct().ToList();
            var report = classes.Count > 0 ? classes[0].Report : v;
            var kr = report as KernelReport;
            var highlight = new List<int>();
            TaskContext? context = v.Annotation as TaskContext;
            if (v.ReportedBy >= 0)
            {
                var i = InProgress(steps, v.ReportedBy, v.TracePosition, context);
                if (i >= 0) highlight.Add(i);
            }
            else if (v is DeadlockViolation d)
            {
                // the blocked tasks, the named one (the hung-task report's first task) first
                var blocked = d.Blocked.Where(t => t.Tag is not TaskStruct { pid: 0 }).ToList();
                var named = blocked.FirstOrDefault(t => t.Tag?.ToString() == kr?.Task) ?? blocked.FirstOrDefault();
                if (named != null)
                {
                    context = TaskContext.Of(named);
                    blocked.Remove(named);
                    blocked.Insert(0, named);
                }
                foreach (var t in blocked)
                {
                    var i = LastOf(steps, t.Id, v.TracePosition);
                    if (i >= 0) highlight.Add(i);
                }
            }
            else if (v.TracePosition > 0) highlight.Add(Math.Min(v.TracePosition, steps.Count) - 1);
            findings.Add(new TraceFinding(props.Count > 0 ? props : new List<string> { "?" }, report.Kind, report.Message,
                report.Render(), kr?.Task, highlight, context, context?.Stack ?? Array.Empty<string>(), kr?.LockChain));
        }
        return new ExplainedTrace(token, proposal, config, scenario, header, lanes, steps, findings, replay.Divergence);
    }

    /// <summary>
    /// The step a report made by <paramref name="thread"/> before trace event <paramref name="position"/> belongs to: the
    /// lock operation the task was in the middle of when the check runs before its note (might_sleep in mutex_lock: the
    /// task's next note, made in the same function with no scheduling point in between), else the task's last step
    /// before the report.
    /// </summary>
    private static int InProgress(List<TraceStep> steps, int thread, int position, TaskContext? atReport)
    {
        var before = LastOf(steps, thread, position);
        for (var i = Math.Max(position, 0); i < steps.Count; i++)
        {
            if (steps[i].Thread != thread) continue;
            var sameRun = before < 0 || steps[i].Step == steps[before].Step;
            var sameFunction = atReport != null && steps[i].Context != null && steps[i].Context!.Stack.SequenceEqual(atReport.Stack);
            if (sameRun && sameFunction && steps[i].Kind is StepKind.Lock or StepKind.Unlock) return i;
            if (!sameRun || steps[i].IsOperation || steps[i].Kind is StepKind.Lock or StepKind.Unlock) break;
        }
        return before;
    }

    private static int LastOf(List<TraceStep> steps, int thread, int before)
    {
        for (var i = Math.Min(before < 0 ? steps.Count : before, steps.Count) - 1; i >= 0; i--)
            if (steps[i].Thread == thread) return i;
        return -1;
    }

    private static readonly Regex LockOp = new(@"^(raw_spin_lock|spin_lock(_irq)?|(read|write)_lock(_irq)?|mutex_lock|down_(read|write)(_trylock)?|srcu_read_lock|rcu_read_lock)\(", RegexOptions.Compiled);
    private static readonly Regex UnlockOp = new(@"^(raw_spin_unlock|spin_unlock(_irq)?|(read|write)_unlock(_irq)?|mutex_unlock|up_(read|write)|srcu_read_unlock|rcu_read_unlock)\(", RegexOptions.Compiled);
    private static readonly Regex Call = new(@"^[A-Za-z_][A-Za-z0-9_]*\(\)$", RegexOptions.Compiled);
    private static readonly Regex Namespaces = new(@"\b(?:System|Lockstep)(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.(?=[A-Za-z_])", RegexOptions.Compiled);

    private static readonly Regex Generic = new(@"([A-Za-z_][A-Za-z0-9_]*)`\d+\[([^\[\]]*)\]", RegexOptions.Compiled);
    private static readonly Regex SameUpdate = new(@"^update (.+?): (.*) -> \2$", RegexOptions.Compiled);

    /// <summary>
    /// Values as a reader wants them: no .NET namespaces ("Lockstep.Models.mm.mm_struct" is "mm_struct"), generics as
    /// List&lt;T&gt;, and an update of an object whose printed value does not change as "update x (T)".
    /// </summary>
    public static string Tidy(string text)
    {
        text = Namespaces.Replace(text, "");
        for (var i = 0; i < 4 && Generic.IsMatch(text); i++) text = Generic.Replace(text, "$1<$2>");
        var same = SameUpdate.Match(text);
        return same.Success ? $"update {same.Groups[1].Value} ({same.Groups[2].Value})" : text;
    }

    private static TraceStep Classify(int index, TraceEvent e)
    {
        var context = e.Annotation as TaskContext;
        if (!e.IsNote)
        {
            var kind = e.Text switch
            {
                "start" => StepKind.Start,
                "yield" => StepKind.Yield,
                var t when t.StartsWith("read ", StringComparison.Ordinal) => StepKind.Read,
                var t when t.StartsWith("write ", StringComparison.Ordinal) => StepKind.Write,
                _ => StepKind.Update,
            };
            return new TraceStep(index, e.Step, e.Thread, kind, Tidy(e.Text), context?.Stack.Count ?? 0, context);
        }
        var text = e.Text.TrimStart(' ');
        var depth = (e.Text.Length - text.Length) / 2;
        var k = LockOp.IsMatch(text) ? StepKind.Lock : UnlockOp.IsMatch(text) ? StepKind.Unlock : Call.IsMatch(text) ? StepKind.Call : StepKind.Note;
        return new TraceStep(index, e.Step, e.Thread, k, text, depth, context);
    }
}
