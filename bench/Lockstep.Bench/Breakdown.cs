using System.Diagnostics;
using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Bench;

/// <summary>Where the per-step time goes: the engine with a do-nothing strategy versus DPOR on the same programs.</summary>
public static class Breakdown
{
    /// <summary>Runs the same schedule (keep running the last thread, else the lowest) a fixed number of times.</summary>
    private sealed class FixedStrategy(long executions, bool history) : IStrategy
    {
        private long _left = executions;
        public string Description => "fixed";
        public bool NeedsValueHistory => history;
        public bool Exhaustive => false;
        public bool BeginExecution() => _left-- > 0;
        public int Choose(in SchedulingState s)
            => s.LastRan >= 0 && (s.Enabled & (1u << s.LastRan)) != 0 ? s.LastRan : System.Numerics.BitOperations.TrailingZeroCount(s.Enabled);
    }

    public static int Run()
    {
        var opts = new ExplorationOptions { Shrink = false };
        Console.WriteLine($"{"program",-24} {"variant",-28} {"execs",9} {"ns/step",8} {"B/exec",8}");
        foreach (var w in Workloads.Analytic)
        {
            var execs = Explorer.Explore(w.Model(), new DporStrategy(), opts).Executions;
            var repeat = Math.Max(1, 300_000 / execs);
            void Row(string variant, Func<IStrategy> make)
            {
                for (var i = 0; i < 3; i++) Explorer.Explore(w.Model(), make(), opts);
                long steps = 0, n = 0; var t = TimeSpan.Zero;
                var b = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < repeat && clock.Elapsed.TotalSeconds < 1.5; i++)
                {
                    var r = Explorer.Explore(w.Model(), make(), opts);
                    steps += r.Steps; n += r.Executions; t += r.Elapsed;
                }
                Console.WriteLine($"{w.Name,-24} {variant,-28} {n,9:N0} {t.TotalNanoseconds / steps,8:0.0} {(GC.GetAllocatedBytesForCurrentThread() - b) / (double)n,8:N0}");
            }
            Row("fixed schedule", () => new FixedStrategy(execs, false));
            Row("fixed + value history", () => new FixedStrategy(execs, true));
            Row("dpor", () => new DporStrategy());
        }
        // The fixed cost of one exploration: constructing a DporStrategy.
        var sw = Stopwatch.StartNew();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 20_000; i++) GC.KeepAlive(new DporStrategy());
        Console.WriteLine($"new DporStrategy(): {sw.Elapsed.TotalNanoseconds / 20_000:0} ns, {(GC.GetAllocatedBytesForCurrentThread() - before) / 20_000:N0} B");
        return 0;
    }
}
