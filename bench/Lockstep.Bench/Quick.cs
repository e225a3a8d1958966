using System.Diagnostics;
using System.Reflection;
using System.Runtime;
using System.Runtime.InteropServices;
using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Bench;

/// <summary>The quick timed mode: DPOR counts and speed, random/PCT throughput, and the flat-memory check.</summary>
public static class Quick
{
    private const double MinSecondsPerRow = 1.0;
    private const long RandomExecutions = 200_000;
    private const long MemoryExecutions = 1_000_000;

    private static readonly ExplorationOptions NoShrink = new() { Shrink = false };

    public static int Run()
    {
        var total = Stopwatch.StartNew();
        var optimized = Header();

        Console.WriteLine();
        Console.WriteLine("DPOR (wakeup trees + sleep sets) on the analytic programs; each row repeats the full exploration for >= 1 s");
        Console.WriteLine($"{"program",-24} {"explored",9} {"pruned",7} {"optimal",9} {"ratio",6} {"exh",4} {"exec/s",10} {"ns/step",8} {"steps/exec",10} {"B/exec",8}");
        var ratiosOk = true;
        var worstStepNs = 0.0;
        foreach (var w in Workloads.Analytic)
        {
            var m = Measure(() => new DporStrategy(), w.Model, minSeconds: MinSecondsPerRow, maxRepeats: 1_000_000);
            long? optimal = w.Optimal;
            string optimalText, ratioText;
            if (optimal is { } o)
            {
                optimalText = $"{o:N0}";
                var ratio = (double)m.Explored / o;
                ratioText = $"{ratio:0.00}";
                if (m.Explored != o || m.Pruned != 0 || !m.Exhaustive) ratiosOk = false;
            }
            else
            {
                optimalText = "-";
                ratioText = "-";
            }
            worstStepNs = Math.Max(worstStepNs, m.NsPerStep);
            Console.WriteLine($"{w.Name,-24} {m.Explored,9:N0} {m.Pruned,7:N0} {optimalText,9} {ratioText,6} {(m.Exhaustive ? "yes" : "NO"),4} {m.ExecPerSec,10:N0} {m.NsPerStep,8:0.0} {m.StepsPerExec,10:0.0} {m.BytesPerExec,8:N0}");
        }
        var brute = Workloads.TwoThreadsTenStepsTraces();
        var twoThreads = Explorer.Explore(Programs.TwoThreadsTenSteps(), new DporStrategy(), NoShrink);
        Console.WriteLine($"  (TwoThreadsTenSteps has no analytic count; brute force over its C(20,10) = 184,756 interleavings finds {brute:N0} traces,");
        Console.WriteLine($"   so its ratio is {(double)twoThreads.Executions / brute:0.00})");

        Console.WriteLine();
        Console.WriteLine($"Sampling strategies on TwoThreadsTenSteps, {RandomExecutions:N0} executions each (after a 20,000-execution warm-up)");
        Console.WriteLine($"{"strategy",-24} {"executions",10} {"exec/s",10} {"ns/step",8} {"steps/exec",10} {"B/exec",8} {"gen0 GCs",8}");
        var random = SampleRow("random(seed=1)", () => new RandomStrategy(1, RandomExecutions), () => new RandomStrategy(2, 20_000));
        SampleRow("pct(d=3, seed=1)", () => new PctStrategy(1, 3, RandomExecutions), () => new PctStrategy(2, 3, 20_000));

        Console.WriteLine();
        MemoryCheck();

        Console.WriteLine();
        Console.WriteLine("Targets");
        Target("random on TwoThreadsTenSteps >= 100,000 executions/s", random.ExecPerSec >= 100_000, $"{random.ExecPerSec:N0}/s");
        Target("per-step overhead <= 100 ns (random, TwoThreadsTenSteps)", random.NsPerStep <= 100, $"{random.NsPerStep:0.0} ns");
        Target("per-step overhead <= 100 ns (DPOR, worst analytic program)", worstStepNs <= 100, $"{worstStepNs:0.0} ns");
        Target("DPOR explored/optimal = 1.00 on the analytic programs", ratiosOk, ratiosOk ? "all 1.00, none pruned" : "see table");
        Console.WriteLine($"\nquick bench done in {total.Elapsed.TotalSeconds:0.0} s{(optimized ? "" : "  (NOT OPTIMIZED: numbers are not representative)")}");
        return 0;
    }

    private static bool Header()
    {
        Console.WriteLine("Lockstep quick bench");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {CpuName()}, {RuntimeInformation.OSDescription}");
        Console.WriteLine($"runtime: {RuntimeInformation.FrameworkDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC");
        var optimized = IsOptimized(typeof(Explorer).Assembly) && IsOptimized(typeof(Quick).Assembly);
        Console.WriteLine($"build:   {(optimized ? "Release (JIT optimizations on)" : "DEBUG - JIT optimizations off")}");
        if (!optimized)
            Console.Error.WriteLine("warning: the engine was built without optimizations; run `dotnet run -c Release --project bench/Lockstep.Bench -- quick`");
        return optimized;
    }

    private static bool IsOptimized(Assembly a) => a.GetCustomAttribute<DebuggableAttribute>() is not { IsJITOptimizerDisabled: true };

    private static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line != null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return RuntimeInformation.ProcessArchitecture.ToString();
    }

    private sealed record Measurement(long Explored, long Pruned, bool Exhaustive, long Executions, long Steps, TimeSpan Elapsed, long Bytes, int Gen0)
    {
        public double ExecPerSec => Executions / Elapsed.TotalSeconds;
        public double NsPerStep => Elapsed.TotalNanoseconds / Steps;
        public double StepsPerExec => (double)Steps / Executions;
        public double BytesPerExec => (double)Bytes / Executions;
    }

    /// <summary>Repeats a whole exploration (after one warm-up) until at least <paramref name="minSeconds"/> of exploring.</summary>
    private static Measurement Measure(Func<IStrategy> strategy, Func<Func<SimTask>> model, double minSeconds, int maxRepeats)
    {
        var first = Explorer.Explore(model(), strategy(), NoShrink);   // the counts
        // Warm-up by time, not by explorations: a one-execution exploration would otherwise be timed in tier-0 code.
        var warm = Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 0.3) Explorer.Explore(model(), strategy(), NoShrink);
        GC.Collect();
        long executions = 0, steps = 0;
        var elapsed = TimeSpan.Zero;
        var bytes = GC.GetAllocatedBytesForCurrentThread();
        var gen0 = GC.CollectionCount(0);
        for (var i = 0; i < maxRepeats && elapsed.TotalSeconds < minSeconds; i++)
        {
            var r = Explorer.Explore(model(), strategy(), NoShrink);
            executions += r.Executions;
            steps += r.Steps;
            elapsed += r.Elapsed;
        }
        return new Measurement(first.Executions, first.Pruned, first.Exhaustive, executions, steps, elapsed,
            GC.GetAllocatedBytesForCurrentThread() - bytes, GC.CollectionCount(0) - gen0);
    }

    private static Measurement SampleRow(string name, Func<IStrategy> strategy, Func<IStrategy> warmUp)
    {
        Explorer.Explore(Programs.TwoThreadsTenSteps(), warmUp(), NoShrink);
        GC.Collect();
        var bytes = GC.GetAllocatedBytesForCurrentThread();
        var gen0 = GC.CollectionCount(0);
        var r = Explorer.Explore(Programs.TwoThreadsTenSteps(), strategy(), NoShrink);
        var m = new Measurement(r.Executions, r.Pruned, r.Exhaustive, r.Executions, r.Steps, r.Elapsed,
            GC.GetAllocatedBytesForCurrentThread() - bytes, GC.CollectionCount(0) - gen0);
        Console.WriteLine($"{name,-24} {m.Executions,10:N0} {m.ExecPerSec,10:N0} {m.NsPerStep,8:0.0} {m.StepsPerExec,10:0.0} {m.BytesPerExec,8:N0} {m.Gen0,8:N0}");
        return m;
    }

    /// <summary>
    /// DPOR keeps only the current schedule (arrays indexed by depth), so memory must not grow with the number of
    /// executions. One exploration of 1,000,000 executions of WritersOfOneVariable(10) (10! = 3,628,800 traces),
    /// with the managed heap sampled from a side thread while it runs.
    /// </summary>
    private static void MemoryCheck()
    {
        Console.WriteLine($"Memory: DPOR on WritersOfOneVariable(10) (10! = 3,628,800 traces), MaxExecutions = {MemoryExecutions:N0}");
        var process = Process.GetCurrentProcess();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        process.Refresh();
        var wsBefore = process.WorkingSet64;
        var peakBefore = process.PeakWorkingSet64;

        var samples = new List<(double Seconds, long Heap)>();
        using var stop = new ManualResetEventSlim();
        var clock = Stopwatch.StartNew();
        var sampler = new Thread(() =>
        {
            while (!stop.Wait(500))
                lock (samples) samples.Add((clock.Elapsed.TotalSeconds, GC.GetTotalMemory(false)));
        }) { IsBackground = true, Name = "heap sampler" };
        sampler.Start();
        var strategy = new DporStrategy();
        var r = Explorer.Explore(Programs.WritersOfOneVariable(10), strategy,
            new ExplorationOptions { MaxExecutions = MemoryExecutions, Shrink = false });
        stop.Set();
        sampler.Join();

        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        process.Refresh();
        Console.WriteLine($"  explored {r.Executions:N0} executions ({r.Pruned:N0} pruned, stopped by {r.StoppedBy ?? "completion"}) in {r.Elapsed.TotalSeconds:0.0} s: "
            + $"{r.ExecutionsPerSecond:N0} exec/s, {r.Elapsed.TotalNanoseconds / r.Steps:0.0} ns/step, {(double)r.Steps / r.Executions:0.0} steps/exec");
        Console.WriteLine($"  managed heap after full GC: before {Mb(heapBefore)}, after {Mb(heapAfter)} (strategy still alive)");
        if (samples.Count > 0)
            Console.WriteLine($"  managed heap while running (every 0.5 s, no forced GC): min {Mb(samples.Min(s => s.Heap))}, max {Mb(samples.Max(s => s.Heap))}; "
                + string.Join(" ", samples.Select(s => Mb(s.Heap).Replace(" MB", ""))) + " MB");
        Console.WriteLine($"  working set: before {Mb(wsBefore)}, after {Mb(process.WorkingSet64)}; peak working set before {Mb(peakBefore)}, after {Mb(process.PeakWorkingSet64)}");
        GC.KeepAlive(strategy);
    }

    private static string Mb(long bytes) => $"{bytes / (1024.0 * 1024.0):0.0} MB";

    private static void Target(string what, bool met, string measured)
        => Console.WriteLine($"  [{(met ? "met " : "MISS")}] {what}: {measured}");
}
