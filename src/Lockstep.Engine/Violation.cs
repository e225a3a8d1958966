namespace Lockstep.Engine;

/// <summary>Something an execution did wrong. Layers above derive richer reports from it.</summary>
public class Violation
{
    public Violation(string kind, string message)
    {
        Kind = kind;
        Message = message;
    }

    /// <summary>Engine kinds: deadlock, livelock, crash, assertion. Layers above add their own.</summary>
    public string Kind { get; }

    /// <summary>One line that names the problem.</summary>
    public string Message { get; }

    /// <summary>
    /// Two violations with one key are the same failure: an exploration keeps one counterexample per key, counts the
    /// executions that hit each, and shrinks each. It must not depend on the schedule (no step numbers, no values).
    /// </summary>
    public virtual string Key => Kind;

    /// <summary>The full report text.</summary>
    public virtual string Render() => Message;

    /// <summary>The replay token of the execution that produced it.</summary>
    public string Token { get; internal set; } = "";

    /// <summary>
    /// The (prefix) schedule of an earlier execution this one's report depends on, e.g. the execution that recorded
    /// the other half of a lock-order inversion; the token then replays both.
    /// </summary>
    public string? Prerequisite { get; init; }

    /// <summary>Scheduling steps and preemptions of that execution.</summary>
    public int Steps { get; internal set; }

    public int Preemptions { get; internal set; }

    /// <summary>In an exploration's result: how many of its executions reported a violation with this key.</summary>
    public long Hits { get; internal set; }

    /// <summary>In an exploration's result: the strategy whose execution first reported it (shrinking may have found a shorter one since).</summary>
    public string? FoundBy { get; internal set; }

    /// <summary>In a traced execution: how many trace events preceded the report (else -1).</summary>
    public int TracePosition { get; internal set; } = -1;

    /// <summary>In a traced execution: the id of the thread that reported it, -1 if none was running (a deadlock) or not traced.</summary>
    public int ReportedBy { get; internal set; } = -1;

    /// <summary>In a traced execution with an <see cref="Execution.Annotator"/>: its annotation of the reporting thread.</summary>
    public object? Annotation { get; internal set; }

    public override string ToString() => $"{Kind}: {Message}";
}

/// <summary>No thread can run but some have not finished; <see cref="Blocked"/> are the threads that wait forever.</summary>
public sealed class DeadlockViolation : Violation
{
    public DeadlockViolation(IReadOnlyList<SimThread> blocked) : this(blocked, Describe(blocked)) { }

    private DeadlockViolation(IReadOnlyList<SimThread> blocked, string stuck) : base("deadlock", $"deadlock: no thread can run; blocked: {stuck}")
    {
        Blocked = blocked;
        Stuck = stuck;
    }

    private static string Describe(IReadOnlyList<SimThread> blocked) => string.Join(", ", blocked.Select(t => $"{t.Name} ({t.PendingDescription})"));

    public IReadOnlyList<SimThread> Blocked { get; }

    /// <summary>Which threads are stuck and on what, e.g. "t0 (waiting on B), t1 (waiting on A)".</summary>
    public string Stuck { get; }

    /// <summary>Two different sets of stuck threads are two failures.</summary>
    public override string Key => $"deadlock:{Stuck}";
}

/// <summary>Thrown into model code to end the current execution after a fatal violation.</summary>
public sealed class ExecutionStoppedException : Exception
{
    public ExecutionStoppedException() : base("execution stopped") { }
}
