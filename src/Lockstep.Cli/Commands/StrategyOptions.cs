using Lockstep.Engine;
using Lockstep.Models.Proposals;

namespace Lockstep.Cli.Commands;

/// <summary>--strategy, --executions, --seed, --depth, --preemption-bound, --max-steps, --time-limit.</summary>
public static class StrategyOptions
{
    public static readonly string[] Names = { "strategy", "executions", "seed", "depth", "preemption-bound", "max-steps", "step-budget", "time-limit", "saturation" };

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

    /// <summary>Scheduling steps per scenario run unless --step-budget or the proposal (<see cref="Proposal.StepBudget"/>) says otherwise.</summary>
    public const long DefaultStepBudget = 30_000_000;

    /// <summary>The share of a DPOR run's step budget (and time limit) kept for PCT, in case DPOR stops at its budget.</summary>
    public const double PctShare = 0.2;

    /// <summary>
    /// The budgets of one scenario run of a proposal: --executions, --max-steps, --time-limit, and --step-budget, else
    /// the proposal's own, else <see cref="DefaultStepBudget"/>. Under DPOR, <see cref="PctShare"/> of the step budget
    /// (and of the time limit) is PCT's (--seed, --depth) if DPOR stops at its part before it is done. Shrinking each
    /// finding may spend a quarter of the step budget besides.
    /// </summary>
    public static Func<Proposal, ExplorationOptions> Budgets(Options o, long defaultExecutions)
    {
        var options = Exploration(o, defaultExecutions);
        var stepBudget = o.One("step-budget") is null ? (long?)null : options.MaxTotalSteps;
        var seed = (ulong)o.Number("seed", 1);
        var depth = (int)o.Number("depth", 3, 1);
        Func<IStrategy>? fallback = (o.One("strategy") ?? "dpor") == "dpor" ? () => new PctStrategy(seed, depth, long.MaxValue) : null;
        return proposal =>
        {
            var budget = stepBudget ?? proposal.StepBudget ?? DefaultStepBudget;
            return options with { MaxTotalSteps = budget, ShrinkStepBudget = budget / 4, Fallback = fallback, FallbackShare = PctShare };
        };
    }

    /// <summary>
    /// --saturation PERCENT|off (default off): a phase that cannot prove anything (the PCT fallback; random, PCT or a
    /// preemption-bounded DPOR) stops once PERCENT of its step budget (and 100 executions) found nothing new
    /// (<see cref="Lockstep.Models.Saturation"/>); off: it spends its budget.
    /// </summary>
    public static Lockstep.Models.Saturation? Saturation(Options o)
    {
        var value = o.One("saturation") ?? "off";
        if (value == "off") return null;
        if (!int.TryParse(value, out var percent) || percent is < 1 or > 100) throw new UsageException($"--saturation takes a percentage 1..100 or off, not '{value}'");
        var cutsStrategy = (o.One("strategy") ?? "dpor") != "dpor" || o.One("preemption-bound") != null;
        return new Lockstep.Models.Saturation(percent / 100.0, Lockstep.Models.Saturation.DefaultExecutions, cutsStrategy);
    }

    /// <summary>The budgets of one exploration of a program: --executions, --max-steps, --step-budget, --time-limit.</summary>
    public static ExplorationOptions Exploration(Options o, long defaultExecutions) => new()
    {
        MaxExecutions = o.Number("executions", defaultExecutions, 1),
        MaxSteps = (int)o.Number("max-steps", 20_000, 10),
        MaxTotalSteps = o.Number("step-budget", DefaultStepBudget, 1),
        TimeLimit = o.One("time-limit") is null ? null : TimeSpan.FromSeconds(o.Number("time-limit", 0, 1)),
    };
}
