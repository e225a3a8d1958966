using System.Diagnostics;

namespace Lockstep.Engine;

/// <summary>Bounds and behaviour of an exploration.</summary>
public sealed record ExplorationOptions
{
    /// <summary>An execution longer than this is reported as a possible livelock.</summary>
    public int MaxSteps { get; init; } = 20_000;

    public long MaxExecutions { get; init; } = long.MaxValue;

    /// <summary>Scheduling steps the whole exploration may take: a bound that weighs long executions as they cost.</summary>
    public long MaxTotalSteps { get; init; } = long.MaxValue;

    public TimeSpan? TimeLimit { get; init; }

    public bool StopOnFirstViolation { get; init; } = true;

    /// <summary>After a violation, look for the same failure with fewer preemptions.</summary>
    public bool Shrink { get; init; } = true;

    /// <summary>Executions each shrinking round may spend.</summary>
    public long ShrinkBudget { get; init; } = 20_000;

    /// <summary>
    /// Makes a new instance of the model for each shrinking round, so that run-wide model state (such as a lockdep graph
    /// and its chain cache) built by the exploration does not carry over; without it the explored model is reused.
    /// </summary>
    public Func<Func<SimTask>>? FreshModel { get; init; }

    /// <summary>Called after every execution of the exploration (not of shrinking) with the number done so far.</summary>
    public Action<long>? Progress { get; init; }

    /// <summary>Called after every execution, shrinking's too: a watchdog's sign that model code still returns to the scheduler.</summary>
    public Action? Heartbeat { get; init; }
}

/// <summary>What an exploration found.</summary>
public sealed record ExplorationResult(
    string Strategy,
    long Executions,
    long Pruned,
    long Steps,
    bool Exhaustive,
    string? StoppedBy,
    TimeSpan Elapsed,
    IReadOnlyList<Violation> Violations)
{
    public double ExecutionsPerSecond => Elapsed.TotalSeconds > 0 ? Executions / Elapsed.TotalSeconds : 0;
}

/// <summary>A single execution re-run from its schedule, with its trace.</summary>
public sealed record ReplayResult(IReadOnlyList<Violation> Violations, IReadOnlyList<TraceEvent> Trace, int Steps, string? Divergence);

/// <summary>Runs a model under a strategy, execution after execution.</summary>
public static class Explorer
{
    public static ExplorationResult Explore(Func<SimTask> model, IStrategy strategy, ExplorationOptions? options = null)
    {
        options ??= new ExplorationOptions();
        var clock = Stopwatch.StartNew();
        var found = new Dictionary<string, Violation>();
        var order = new List<Violation>();
        long executions = 0, pruned = 0, steps = 0;
        string? stoppedBy = null;
        var finished = false;
        while (true)
        {
            if (executions == options.MaxExecutions) { stoppedBy = "execution limit"; break; }
            if (steps >= options.MaxTotalSteps) { stoppedBy = "step budget"; break; }
            if (options.TimeLimit is { } limit && clock.Elapsed > limit) { stoppedBy = "time limit"; break; }
            if (!strategy.BeginExecution()) { finished = true; break; }
            var execution = new Execution(strategy, options.MaxSteps, tracing: false);
            ExecutionEnd end;
            try
            {
                end = execution.Run(model);
            }
            finally
            {
                executions++;
            }
            options.Progress?.Invoke(executions);
            options.Heartbeat?.Invoke();
            strategy.EndExecution(end);
            if (end == ExecutionEnd.Pruned) pruned++;
            steps += execution.Steps;
            foreach (var v in execution.Violations)
            {
                if (found.ContainsKey(v.Key)) continue;
                v.Token = v.Prerequisite is { } before ? before + "+" + Schedule.Encode(execution.Choices) : Schedule.Encode(execution.Choices);
                v.Steps = execution.Steps;
                v.Preemptions = execution.Preemptions;
                found[v.Key] = v;
                order.Add(v);
            }
            if (order.Count > 0 && options.StopOnFirstViolation) { stoppedBy = "violation"; break; }
        }
        if (options.Shrink)
            for (var i = 0; i < order.Count; i++)
                order[i] = Shrink(model, order[i], options);
        return new ExplorationResult(strategy.Description, executions, pruned, steps,
            finished && strategy.Exhaustive, stoppedBy, clock.Elapsed, order);
    }

    /// <summary>
    /// Re-runs the execution a schedule token describes, recording its trace. A token "A+B" first replays the
    /// (prefix) schedule A, whose effects on the model's run-wide state (such as a lock-dependency graph) B's
    /// report depends on, then B.
    /// </summary>
    /// <param name="annotator">Set as the traced execution's <see cref="Execution.Annotator"/>.</param>
    /// <exception cref="FormatException">The token is not a schedule.</exception>
    public static ReplayResult Replay(Func<SimTask> model, string token, int maxSteps = 20_000, Func<SimThread, object?>? annotator = null)
    {
        var parts = token.Split('+');
        var schedules = parts.Select(Schedule.Decode).ToList();
        for (var i = 0; i < schedules.Count - 1; i++)
        {
            // only up to the end of the prefix: what the earlier execution did after it is not part of the report's
            // history (and would, e.g., fill lockdep's chain cache so that the replayed report is not made again)
            var prime = new ReplayStrategy(schedules[i], stopAtEnd: true);
            prime.BeginExecution();
            new Execution(prime, maxSteps, tracing: false).Run(model);
        }
        var strategy = new ReplayStrategy(schedules[^1]);
        strategy.BeginExecution();
        var execution = new Execution(strategy, maxSteps, tracing: true) { Annotator = annotator };
        execution.Run(model);
        foreach (var v in execution.Violations)
        {
            if (v.Token.Length == 0) v.Token = token;
            v.Steps = execution.Steps;
            v.Preemptions = execution.Preemptions;
        }
        return new ReplayResult(execution.Violations, execution.Trace, execution.Steps, strategy.Divergence);
    }

    /// <summary>Looks for the same failure with fewer preemptions (fewest first, like CHESS), then fewer steps.</summary>
    private static Violation Shrink(Func<SimTask> model, Violation violation, ExplorationOptions options)
    {
        for (var bound = 0; bound < violation.Preemptions; bound++)
        {
            var attempt = options.FreshModel?.Invoke() ?? model;
            var strategy = new DporStrategy(bound);
            for (long n = 0; n < options.ShrinkBudget && strategy.BeginExecution(); n++)
            {
                var execution = new Execution(strategy, options.MaxSteps, tracing: false);
                var end = execution.Run(attempt);
                options.Heartbeat?.Invoke();
                strategy.EndExecution(end);
                var same = execution.Violations.FirstOrDefault(v => v.Key == violation.Key);
                if (same == null) continue;
                same.Token = same.Prerequisite is { } before ? before + "+" + Schedule.Encode(execution.Choices) : Schedule.Encode(execution.Choices);
                same.Steps = execution.Steps;
                same.Preemptions = execution.Preemptions;
                return same;
            }
        }
        return violation;
    }
}
