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

/// <summary>
/// What one trace line is. Call/Return: a modelled kernel function entered/left; Lock/Unlock: a lock, lockdep map or SRCU
/// read-side operation that takes/drops it; Context: non_block_start/end, preempt, IRQ, BH, RCU or migrate sections.
/// </summary>
public enum StepKind { Start, Yield, Call, Lock, Unlock, Read, Write, Update, Note, Context, Return }

/// <summary>
/// One event of a trace as the reports show it: a scheduled operation (start, yield, read, write, update) or an event
/// of the model or kernel layer (a call, a lock operation, a context change, a note). <see cref="Depth"/> is the call
/// depth: a kernel event's own, else the task's stack depth at the event. <see cref="Data"/> is the typed event.
/// </summary>
public sealed record TraceStep(int Index, int Step, int Thread, StepKind Kind, string Text, int Depth, TaskContext? Context, TraceData Data)
{
    public bool IsOperation => Kind is StepKind.Start or StepKind.Yield or StepKind.Read or StepKind.Write or StepKind.Update;

    /// <summary>Function exits: kept in the steps (indices follow the trace), left out of every rendering.</summary>
    public bool IsShown => Kind != StepKind.Return;
}

/// <summary>A lane of the viewer: one simulated thread (a kernel task).</summary>
public sealed record Lane(int Thread, string Name);

/// <summary>
/// A report of the execution: the properties it breaks, its signature (<see cref="Finding.Signature"/>), the kernel-log
/// text, the steps to highlight (the reporting task's last step; for a deadlock the last step of every blocked task), the
/// reporting task's context and call stack.
/// </summary>
public sealed record TraceFinding(IReadOnlyList<string> Properties, string Kind, string Signature, string Headline, string Text, string? Task,
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
    /// <summary>The execution of every finding of a check run (fixed ones too) re-run with its trace (one replay per distinct token).</summary>
    public static Dictionary<string, ExplainedTrace> ForCells(Registry registry, CheckResults results)
    {
        var traces = new Dictionary<string, ExplainedTrace>();
        foreach (var token in results.Cells.SelectMany(c => c.All).Select(f => f.Token).Distinct())
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
        return Build(token, r.Proposal.Id, r.Config.Name, r.Scenario.Id, header, r.Replay, v => Suite.Classify(registry, v, r.Scenario));
    }

    /// <summary>
    /// The explained trace of any model's execution (replayed with <see cref="Explorer.Replay"/> and the
    /// <see cref="TaskContext.Of"/> annotator); <paramref name="classify"/> names the properties of each violation.
    /// </summary>
    public static ExplainedTrace Build(string token, string proposal, string config, string scenario,
        IReadOnlyList<KeyValuePair<string, string>> header, ReplayResult replay,
        Func<Violation, IEnumerable<(string Property, Violation Report)>> classify)
    {
        var steps = Steps(replay.Trace);
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
            findings.Add(new TraceFinding(props.Count > 0 ? props : new List<string> { "?" }, report.Kind, report.Key, report.Message,
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
            if (steps[i].Thread != thread || !steps[i].IsShown) continue;
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
            if (steps[i].Thread == thread && steps[i].IsShown) return i;
        return -1;
    }

    /// <summary>The steps of a trace, one per event, classified by the event's type.</summary>
    public static List<TraceStep> Steps(IReadOnlyList<TraceEvent> trace)
    {
        var steps = new List<TraceStep>(trace.Count);
        for (var i = 0; i < trace.Count; i++) steps.Add(Classify(i, trace[i]));
        return steps;
    }

    private static TraceStep Classify(int index, TraceEvent e)
    {
        var context = e.Annotation as TaskContext;
        var kind = e.Data switch
        {
            ThreadStarted => StepKind.Start,
            ThreadYielded => StepKind.Yield,
            SharedAccess { Access: SharedAccessKind.Read } => StepKind.Read,
            SharedAccess { Access: SharedAccessKind.Write } => StepKind.Write,
            SharedAccess => StepKind.Update,
            FunctionEntered => StepKind.Call,
            FunctionLeft => StepKind.Return,
            LockOperation { Outcome: LockOutcome.Released } => StepKind.Unlock,
            LockOperation { Outcome: LockOutcome.TrylockFailed } => StepKind.Note,
            LockOperation => StepKind.Lock,
            SrcuOperation { Op: SrcuOp.ReadLock } => StepKind.Lock,
            SrcuOperation { Op: SrcuOp.ReadUnlock } => StepKind.Unlock,
            ContextChange => StepKind.Context,
            _ => StepKind.Note,
        };
        var depth = e.Data is KernelTraceData k ? k.Depth : context?.Stack.Count ?? 0;
        return new TraceStep(index, e.Step, e.Thread, kind, e.Data.Text, depth, context, e.Data);
    }
}

/// <summary>The trace as explain and replay print it: a line per shown step.</summary>
public static class TraceText
{
    /// <summary>
    /// "step  task  what": a scheduled operation marked "* ", every other event indented by its call depth (as the
    /// kernel's nesting reads), function exits left out.
    /// </summary>
    public static IEnumerable<string> Lines(IReadOnlyList<TraceEvent> trace)
    {
        foreach (var s in TraceCapture.Steps(trace))
            if (s.IsShown) yield return Line(s, trace[s.Index].ThreadName);
    }

    public static string Line(TraceStep s, string threadName)
        => $"{s.Step,4}  {threadName,-16}  {(s.IsOperation ? "* " : new string(' ', 2 * s.Depth))}{s.Text}";
}
