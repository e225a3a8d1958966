using System.Diagnostics;
using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Bench;

/// <summary>
/// optimality: DPOR's explored executions against the programs' Mazurkiewicz traces (lastzero(3..8) and the analytic
/// programs), with the time of one full exploration each. Optimal means ratio 1.00 and nothing abandoned asleep.
/// </summary>
public static class Optimality
{
    private static readonly long[] LastZeroTraces = [12, 28, 64, 144, 320, 704];

    public static int Run()
    {
        var rows = Enumerable.Range(3, 6).Select(n => new Workloads.Workload($"lastzero({n})", () => Programs.LastZero(n), LastZeroTraces[n - 3]))
            .Concat(Workloads.Analytic.Select(w => w.Optimal == null && w.Name == "TwoThreadsTenSteps()" ? w with { Optimal = Workloads.TwoThreadsTenStepsTraces() } : w));
        Console.WriteLine($"{"program",-24} {"explored",9} {"traces",9} {"ratio",6} {"pruned",7} {"exh",4} {"ms",9}");
        var optimal = true;
        foreach (var w in rows)
        {
            var clock = Stopwatch.StartNew();
            var r = Explorer.Explore(w.Model(), new DporStrategy(), new ExplorationOptions { Shrink = false });
            clock.Stop();
            var ratio = w.Optimal is { } t ? (double)r.Executions / t : double.NaN;
            optimal &= ratio == 1.0 && r.Pruned == 0 && r.Exhaustive;
            Console.WriteLine($"{w.Name,-24} {r.Executions,9:N0} {w.Optimal,9:N0} {ratio,6:F2} {r.Pruned,7:N0} {(r.Exhaustive ? "yes" : "no"),4} {clock.Elapsed.TotalMilliseconds,9:F1}");
        }
        Console.WriteLine(optimal ? "optimal: one execution per trace on every row" : "NOT optimal on some row");
        return optimal ? 0 : 1;
    }
}
