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
    /// Scheduling steps all shrinking rounds of one violation may spend together: a violation with many preemptions in
    /// long executions (one a randomized fallback found, say) keeps the shortest counterexample found within it.
    /// </summary>
    public long ShrinkStepBudget { get; init; } = 5_000_000;

    /// <summary>
    /// Makes a new instance of the model for each shrinking round, so that run-wide model state (such as a lockdep graph
    /// and its chain cache) built by the exploration does not carry over; without it the explored model is reused.
    /// </summary>
    public Func<Func<SimTask>>? FreshModel { get; init; }

    /// <summary>Called after every execution of the exploration (not of shrinking) with the number done so far.</summary>
    public Action<long>? Progress { get; init; }

    /// <summary>Called after every execution, shrinking's too: a watchdog's sign that model code still returns to the scheduler.</summary>
    public Action? Heartbeat { get; init; }

    /// <summary>Called with each distinct violation (by <see cref="Violation.Key"/>) when an execution first reports it, before shrinking.</summary>
    public Action<Violation>? Found { get; init; }

    /// <summary>
    /// Asked after every execution of the strategy and of the fallback (not of shrinking): a reason to stop that phase
    /// there, which then counts as its budget (the fallback runs next, on what is left), or null to go on.
    /// </summary>
    public Func<PhaseProgress, string?>? StopPhase { get; init; }

    /// <summary>
    /// The strategy that spends what is left when the strategy stops at its budget before it covered everything. With a
    /// fallback the strategy may use only 1 - <see cref="FallbackShare"/> of <see cref="MaxTotalSteps"/> (and of
    /// <see cref="TimeLimit"/>); if it stops there, the fallback runs on the remaining steps and time, within what is
    /// left of <see cref="MaxExecutions"/> (which both share). If the strategy finishes or stops at the execution limit,
    /// the fallback does not run.
    /// </summary>
    public Func<IStrategy>? Fallback { get; init; }

    /// <summary>The share of the step budget and of the time limit kept for <see cref="Fallback"/>.</summary>
    public double FallbackShare { get; init; } = 0.2;
}

/// <summary>Where a phase of an exploration is: 0 the strategy, 1 the fallback; its executions and steps so far, and its step budget.</summary>
public readonly record struct PhaseProgress(int Phase, long Executions, long Steps, long StepBudget);

/// <summary>What the fallback strategy did after the strategy stopped at its budget.</summary>
public sealed record FallbackRun(string Strategy, long Executions, long Steps, string? StoppedBy);

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
    /// <summary>
    /// The fallback's part (<see cref="ExplorationOptions.Fallback"/>) when it ran; the fields above are the strategy's,
    /// except <see cref="Violations"/> and <see cref="Elapsed"/>, which cover both.
    /// </summary>
    public FallbackRun? Fallback { get; init; }

    /// <summary>The strategy's executions and the fallback's.</summary>
    public long TotalExecutions => Executions + (Fallback?.Executions ?? 0);

    public double ExecutionsPerSecond => Elapsed.TotalSeconds > 0 ? TotalExecutions / Elapsed.TotalSeconds : 0;
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
        var found = new Found();
        var reserve = options.Fallback != null ? options.FallbackShare : 0;
        var budget = options with
        {
            MaxTotalSteps = Share(options.MaxTotalSteps, 1 - reserve),
            TimeLimit = options.TimeLimit * (1 - reserve),
        };
        var main = Run(model, strategy, budget, found, clock, 0, 0);
        FallbackRun? fallback = null;
        if (options.Fallback != null && (main.StoppedBy is StepBudget or TimeLimit || main.ByStopPhase))
        {
            var rest = options with { MaxExecutions = options.MaxExecutions - main.Executions, MaxTotalSteps = options.MaxTotalSteps - main.Steps };
            var second = options.Fallback();
            var run = Run(model, second, rest, found, clock, main.Executions, 1);
            fallback = new FallbackRun(second.Description, run.Executions, run.Steps, run.StoppedBy);
        }
        var order = found.Order;
        if (options.Shrink)
            for (var i = 0; i < order.Count; i++)
                order[i] = Shrink(model, order[i], options);
        foreach (var v in order) v.Hits = found.Hits[v.Key];
        return new ExplorationResult(strategy.Description, main.Executions, main.Pruned, main.Steps,
            main.Finished && strategy.Exhaustive, main.StoppedBy, clock.Elapsed, order) { Fallback = fallback };
    }

    private const string StepBudget = "step budget", TimeLimit = "time limit";

    private static long Share(long budget, double share) => budget == long.MaxValue ? budget : (long)(budget * share);

    /// <summary>The distinct violations of an exploration (by <see cref="Violation.Key"/>), in the order found, with how many executions reported each.</summary>
    private sealed class Found
    {
        public readonly Dictionary<string, long> Hits = new();
        public readonly List<Violation> Order = new();
    }

    private readonly record struct Phase(long Executions, long Pruned, long Steps, bool Finished, string? StoppedBy, bool ByStopPhase = false);

    /// <summary>One strategy's executions until it has none left or a budget stops it (progress counts on from <paramref name="executionsBefore"/>).</summary>
    private static Phase Run(Func<SimTask> model, IStrategy strategy, ExplorationOptions options, Found found, Stopwatch clock, long executionsBefore, int phase)
    {
        long executions = 0, pruned = 0, steps = 0;
        var seen = new HashSet<string>();
        while (true)
        {
            if (executions == options.MaxExecutions) return new(executions, pruned, steps, false, "execution limit");
            if (steps >= options.MaxTotalSteps) return new(executions, pruned, steps, false, StepBudget);
            if (options.TimeLimit is { } limit && clock.Elapsed > limit) return new(executions, pruned, steps, false, TimeLimit);
            if (!strategy.BeginExecution()) return new(executions, pruned, steps, true, null);
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
            options.Progress?.Invoke(executionsBefore + executions);
            options.Heartbeat?.Invoke();
            strategy.EndExecution(end);
            if (end == ExecutionEnd.Pruned) pruned++;
            steps += execution.Steps;
            seen.Clear();
            foreach (var v in execution.Violations)
            {
                if (!seen.Add(v.Key)) continue;   // an execution counts once for each kind of failure it shows
                if (found.Hits.TryGetValue(v.Key, out var hits))
                {
                    found.Hits[v.Key] = hits + 1;
                    continue;
                }
                v.Token = v.Prerequisite is { } before ? before + "+" + Schedule.Encode(execution.Choices) : Schedule.Encode(execution.Choices);
                v.Steps = execution.Steps;
                v.Preemptions = execution.Preemptions;
                v.FoundBy = strategy.Description;
                found.Hits[v.Key] = 1;
                found.Order.Add(v);
                options.Found?.Invoke(v);
            }
            if (found.Order.Count > 0 && options.StopOnFirstViolation) return new(executions, pruned, steps, false, "violation");
            if (options.StopPhase?.Invoke(new PhaseProgress(phase, executions, steps, options.MaxTotalSteps)) is { } reason)
                return new(executions, pruned, steps, false, reason, ByStopPhase: true);
        }
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
        long steps = 0;
        for (var bound = 0; bound < violation.Preemptions && steps < options.ShrinkStepBudget; bound++)
        {
            var attempt = options.FreshModel?.Invoke() ?? model;
            var strategy = new DporStrategy(bound);
            for (long n = 0; n < options.ShrinkBudget && steps < options.ShrinkStepBudget && strategy.BeginExecution(); n++)
            {
                var execution = new Execution(strategy, options.MaxSteps, tracing: false);
                var end = execution.Run(attempt);
                steps += execution.Steps;
                options.Heartbeat?.Invoke();
                strategy.EndExecution(end);
                var same = execution.Violations.FirstOrDefault(v => v.Key == violation.Key);
                if (same == null) continue;
                same.Token = same.Prerequisite is { } before ? before + "+" + Schedule.Encode(execution.Choices) : Schedule.Encode(execution.Choices);
                same.Steps = execution.Steps;
                same.Preemptions = execution.Preemptions;
                same.FoundBy = violation.FoundBy;
                return same;
            }
        }
        return violation;
    }
}
