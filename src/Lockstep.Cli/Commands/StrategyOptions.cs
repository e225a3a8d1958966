using Lockstep.Engine;

namespace Lockstep.Cli.Commands;

/// <summary>--strategy, --executions, --seed, --depth, --preemption-bound, --max-steps, --time-limit.</summary>
public static class StrategyOptions
{
    public static readonly string[] Names = { "strategy", "executions", "seed", "depth", "preemption-bound", "max-steps", "step-budget", "time-limit" };

    public static Func<IStrategy> Factory(Options o, long defaultExecutions)
    {
        var executions = o.Number("executions", defaultExecutions, 1);
        var seed = (ulong)o.Number("seed", 1);
        var depth = (int)o.Number("depth", 3, 1);
        var bound = o.One("preemption-bound") is null ? (int?)null : (int)o.Number("preemption-bound", 0);
        return (o.One("strategy") ?? "dpor") switch
        {
            "dpor" => () => new DporStrategy(bound),
            "random" => () => new RandomStrategy(seed, executions),
            "pct" => () => new PctStrategy(seed, depth, executions),
            var s => throw new UsageException($"unknown strategy '{s}' (known: dpor, random, pct)"),
        };
    }

    /// <summary>Scheduling steps per scenario run unless --step-budget says otherwise.</summary>
    public const long DefaultStepBudget = 25_000_000;

    public static ExplorationOptions Exploration(Options o, long defaultExecutions) => new()
    {
        MaxExecutions = o.Number("executions", defaultExecutions, 1),
        MaxSteps = (int)o.Number("max-steps", 20_000, 10),
        MaxTotalSteps = o.Number("step-budget", DefaultStepBudget, 1),
        TimeLimit = o.One("time-limit") is null ? null : TimeSpan.FromSeconds(o.Number("time-limit", 0, 1)),
    };
}
