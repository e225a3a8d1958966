using System.Diagnostics;
using Lockstep.Engine;
using Lockstep.Engine.Samples;
using Lockstep.Kernel;
using Lockstep.Models;

namespace Lockstep.Bench;

/// <summary>
/// stepcost: what one scheduling step costs on the kernel models against a bare engine program, under DPOR as check runs
/// it (no shrinking). The first exploration in the process is timed on its own (it pays the JIT); then each row repeats
/// the full exploration (a fresh kernel each time) for at least two seconds and prints ns/step, bytes allocated per step,
/// and the collections and GC pause time of those repeats. cpu ns/step is the process's CPU time per step (JIT and GC
/// threads included): on a machine shared with other work it moves less than the wall-clock ns/step. A further argument
/// keeps only the rows whose name contains it (for a profiler).
/// </summary>
public static class StepCost
{
    private const double MinSeconds = 2.0;

    private sealed record Workload(string Name, Func<Func<SimTask>> Model);

    public static int Run(string? only = null)
    {
        var registry = Registry.WithBuiltIns();
        Workload Kernel(string proposal, KernelConfig config, string scenario)
        {
            var p = registry.Proposal(proposal);
            var s = registry.Scenario(scenario);
            return new($"{proposal} × {config.Name} × {scenario}", () => s.Model(new Kernel.Kernel(config), p));
        }
        var workloads = new[]
        {
            Kernel("mainline", KernelConfig.Default, "munmap-vs-fault"),
            Kernel("mainline", KernelConfig.Rt, "oom-reap-vs-exit"),
            Kernel("mainline", KernelConfig.Rt, "munmap-vs-reclaim"),
            new Workload("engine: LockedIncrements(5)", () => Programs.LockedIncrements(5)),
        }.Where(w => only == null || w.Name.Contains(only)).ToArray();
        var options = new ExplorationOptions { Shrink = false, StopOnFirstViolation = false };

        var cold = Stopwatch.StartNew();
        var first = Explorer.Explore(workloads[0].Model(), new DporStrategy(), options);
        Console.WriteLine($"first exploration in the process ({workloads[0].Name}): {cold.Elapsed.TotalMilliseconds:N0} ms, "
            + $"{first.Executions:N0} executions, {first.Steps:N0} steps");
        Console.WriteLine();
        Console.WriteLine($"{"program",-44} {"execs",7} {"steps/exec",10} {"repeats",7} {"ns/step",8} {"cpu ns/step",11} {"B/step",7} {"gen0",5} {"gen1",5} {"gen2",5} {"GC pause",9}");
        foreach (var w in workloads)
        {
            Explorer.Explore(w.Model(), new DporStrategy(), options);   // warm-up
            GC.Collect();
            var (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var pause = GC.GetTotalPauseDuration();
            var bytes = GC.GetAllocatedBytesForCurrentThread();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            long steps = 0, executions = 0, repeats = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < MinSeconds)
            {
                var r = Explorer.Explore(w.Model(), new DporStrategy(), options);
                steps += r.Steps;
                executions += r.Executions;
                repeats++;
            }
            var elapsed = clock.Elapsed;
            var cpuElapsed = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var allocated = GC.GetAllocatedBytesForCurrentThread() - bytes;
            Console.WriteLine($"{w.Name,-44} {executions / repeats,7:N0} {steps / (double)executions,10:0.0} {repeats,7:N0} "
                + $"{elapsed.TotalNanoseconds / steps,8:0.0} {cpuElapsed.TotalNanoseconds / steps,11:0.0} {allocated / (double)steps,7:0.0} {GC.CollectionCount(0) - gen0,5} "
                + $"{GC.CollectionCount(1) - gen1,5} {GC.CollectionCount(2) - gen2,5} "
                + $"{(GC.GetTotalPauseDuration() - pause).TotalMilliseconds / elapsed.TotalMilliseconds,8:P1}");
        }
        return 0;
    }
}
