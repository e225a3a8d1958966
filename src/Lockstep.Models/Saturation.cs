using System.Numerics;
using Lockstep.Engine;

namespace Lockstep.Models;

/// <summary>
/// When a scenario run's search that cannot prove anything stops spending its budget: a phase of a strategy that cannot
/// cover every schedule (random, PCT, a preemption-bounded DPOR, and the fallback, PCT under `check`) stops at the end of
/// an execution once it has run <see cref="Window"/> of its step budget and at least <see cref="Executions"/> executions
/// with nothing new: no new distinct finding and no new lockdep dependency (an edge, or a kind of an edge, of the run's
/// lock graph) since the last new one or the phase's start. The run stays bounded, with the stop reason
/// <see cref="Reason"/>. An unbounded DPOR phase is never cut short: it may still finish and prove its cells
/// (defer-nonblock-work × oom-reap-vs-exit finds nothing new for most of its 21 M steps, then is exhaustive), and where it
/// does stop at its budget it finds new things late (defer-nonblock-work-eagain × oom-reap-vs-exit: S6 and S7 after 52%
/// of its steps).
/// </summary>
/// <param name="CutsStrategy">Whether the strategy's own phase is cut short too (it cannot finish: not an unbounded DPOR), or only the fallback's.</param>
public sealed record Saturation(double Window, long Executions, bool CutsStrategy)
{
    /// <summary>`check`'s executions with nothing new (its window is --saturation's).</summary>
    public const long DefaultExecutions = 100;

    /// <summary>The reason a phase stopped by this rule gives (a bounded run's stopped_by).</summary>
    public const string Reason = "saturation";

    /// <summary>
    /// The rule for one scenario run: the check after each execution of <paramref name="kernel"/>'s model (its lock graph
    /// is the run's), and what tells it of each new finding.
    /// </summary>
    public (Func<PhaseProgress, string?> Stop, Action<Violation> Found) For(Kernel.Kernel kernel)
    {
        var phase = -1;
        long stepsAtNew = 0, executionsAtNew = 0;
        var dependencies = 0;
        var found = false;
        string? Stop(PhaseProgress p)
        {
            if (p.Phase != phase) (phase, stepsAtNew, executionsAtNew) = (p.Phase, 0, 0);
            var now = kernel.Lockdep.Dependencies.Sum(d => 1 + BitOperations.PopCount((uint)d.Kinds));
            if (found || now != dependencies) (stepsAtNew, executionsAtNew, found, dependencies) = (p.Steps, p.Executions, false, now);
            if (p.Phase == 0 && !CutsStrategy) return null;
            return p.Steps - stepsAtNew >= Window * p.StepBudget && p.Executions - executionsAtNew >= Executions ? Reason : null;
        }
        return (Stop, _ => found = true);
    }
}
