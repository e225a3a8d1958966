using System.Diagnostics;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Scenarios;
using static Lockstep.Models.Scenarios.Tasks;

namespace Lockstep.Bench;

/// <summary>
/// Executions and wall time of DPOR against plain enumeration (<see cref="EnumerationStrategy"/>) as the world grows: the
/// notifier-like protocol with more threads, and mainline KVM on !RT with more vCPUs and memslots (qemu munmaps all guest RAM
/// while vCPUs fault) and more VMAs (the OOM reaper reaps them while a vCPU faults). Each exploration is capped in time; a capped point is a lower bound and marked so.
/// Writes bench/results/scaling.csv and one PNG per series and measure.
/// </summary>
public static class Scaling
{
    private static readonly TimeSpan Cap = TimeSpan.FromSeconds(5);

    private sealed record Point(string Series, int X, string Label, Func<IStrategy, ExplorationResult> Explore);

    private sealed record Series(string Name, string Title, string XLabel, IReadOnlyList<Point> Points);

    public static int Run()
    {
        var total = Stopwatch.StartNew();
        var registry = Registry.WithBuiltIns();
        var mainline = registry.Proposal("mainline");
        Scenario Registered(Scenario scenario)
        {
            registry.Register(scenario);   // a finding's check token names a registered scenario
            return scenario;
        }
        ExplorationResult Kvm(Scenario scenario, IStrategy strategy)
            => Suite.Run(registry, mainline, KernelConfig.Default, scenario, strategy, new ExplorationOptions { TimeLimit = Cap }).Exploration;
        ExplorationResult Notifier(int i, int f, IStrategy strategy)
            => Explorer.Explore(SharedPrograms.Notifier(i, f, false), strategy, new ExplorationOptions { TimeLimit = Cap, Shrink = false });

        var all = new[]
        {
            new Series("notifier", "notifier-like protocol (I invalidators + F faults)", "threads (I+F)",
                new[] { (1, 1), (2, 1), (2, 2), (3, 2) }.Select(p => new Point("notifier", p.Item1 + p.Item2, $"I={p.Item1} F={p.Item2}", s => Notifier(p.Item1, p.Item2, s))).ToList()),
            new Series("vcpus", "mainline KVM: munmap of guest RAM vs N vCPUs faulting", "vCPUs",
                Enumerable.Range(1, 4).Select(n => (n, Registered(Vcpus(n)))).Select(p => new Point("vcpus", p.n, $"{p.n} vCPUs", s => Kvm(p.Item2, s))).ToList()),
            new Series("memslots", "mainline KVM: munmap vs a vCPU fault, M one-page memslots", "memslots",
                Enumerable.Range(1, 4).Select(m => (m, Registered(Memslots(m)))).Select(p => new Point("memslots", p.m, $"{p.m} memslots", s => Kvm(p.Item2, s))).ToList()),
            new Series("vmas", "mainline KVM: the OOM reaper reaps V one-page VMAs vs a vCPU fault", "VMAs",
                Enumerable.Range(1, 4).Select(v => (v, Registered(Vmas(v)))).Select(p => new Point("vmas", p.v, $"{p.v} VMAs", s => Kvm(p.Item2, s))).ToList()),
        };

        Console.WriteLine($"Scaling: DPOR vs enumeration without reduction, each exploration capped at {Cap.TotalSeconds:0} s; {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
        Console.WriteLine($"{"series",-9} {"point",-12} {"DPOR exec",10} {"steps",11} {"s",6} {"",3} {"enum exec",10} {"steps",11} {"s",6} {"",3} {"enum/DPOR",9}");
        Kvm(registry.Scenario("bench-vcpus-1"), new DporStrategy());   // JIT
        var rows = new List<IReadOnlyList<object>>();
        var findings = new List<string>();
        var measured = new Dictionary<string, List<(Point P, Measured Dpor, Measured Enum)>>();
        foreach (var series in all)
        {
            var list = measured[series.Name] = new();
            foreach (var p in series.Points)
            {
                var dpor = Measure(p.Explore, new DporStrategy());
                var enumeration = Measure(p.Explore, new EnumerationStrategy());
                list.Add((p, dpor, enumeration));
                var ratio = (double)enumeration.Executions / dpor.Executions;
                Console.WriteLine($"{series.Name,-9} {p.Label,-12} {dpor.Executions,10:N0} {dpor.Steps,11:N0} {dpor.Seconds,6:0.00} {Mark(dpor),3} {enumeration.Executions,10:N0} {enumeration.Steps,11:N0} {enumeration.Seconds,6:0.00} {Mark(enumeration),3} {(enumeration.Capped ? ">=" : "") + $"{ratio:N1}",9}");
                foreach (var m in new[] { dpor, enumeration }.Where(m => m.FirstFinding != null))
                    findings.Add($"{p.Label}: {m.FirstFinding}");
                foreach (var (strategy, m) in new[] { ("dpor", dpor), ("enumeration", enumeration) })
                    rows.Add(new object[] { series.Name, p.X, p.Label, strategy, m.Executions, m.Steps, m.Seconds, m.Exhaustive, m.Capped, m.Findings });
            }
        }
        foreach (var f in findings.Distinct()) Console.WriteLine($"  ! {f}");
        Console.WriteLine($"  (cap: the point stopped at the {Cap.TotalSeconds:0} s limit, its counts are lower bounds; !: findings on a correct model)");
        Console.WriteLine($"  -> {Results.WriteCsv("scaling", new[] { "series", "x", "point", "strategy", "executions", "steps", "seconds", "exhaustive", "capped", "findings" }, rows)}");
        foreach (var series in all)
        {
            var points = measured[series.Name];
            Console.WriteLine($"  -> {Plots.Save($"scaling-{series.Name}-executions", series.Title, series.XLabel, "executions", log: true, points.Select(p => (p.P.X, p.Dpor, p.Enum)).ToList(), m => m.Executions)}");
            Console.WriteLine($"  -> {Plots.Save($"scaling-{series.Name}-seconds", series.Title, series.XLabel, "wall time (s)", log: false, points.Select(p => (p.P.X, p.Dpor, p.Enum)).ToList(), m => m.Seconds)}");
        }
        Console.WriteLine($"\nscaling bench done in {total.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    public sealed record Measured(long Executions, long Steps, double Seconds, bool Exhaustive, bool Capped, int Findings, string? FirstFinding);

    private static Measured Measure(Func<IStrategy, ExplorationResult> explore, IStrategy strategy)
    {
        var clock = Stopwatch.StartNew();
        var r = explore(strategy);
        return new Measured(r.Executions, r.Steps, clock.Elapsed.TotalSeconds, r.Exhaustive, r.StoppedBy == "time limit", r.Violations.Count,
            r.Violations.Count > 0 ? $"{r.Violations[0].Kind}: {r.Violations[0].Message.Split('\n')[0]}" : null);
    }

    private static string Mark(Measured m) => (m.Capped ? "cap" : m.Exhaustive ? "" : "?") + (m.Findings > 0 ? "!" : "");

    private static SimTask MunmapPages(World w, ulong pages) => w.mm_code.do_munmap(w.mm, 0x1000, 0x1000 + pages);

    /// <summary>Guest RAM of two pages in one memslot; qemu munmaps it while vCPUs 0..n-1 fault gfn i mod 2.</summary>
    private static Scenario Vcpus(int n) => new($"bench-vcpus-{n}", $"munmap vs {n} vCPUs",
        WorldSpec.Builder().Vma(0x1000, pages: 2).Vm(vm => vm.Memslot(base_gfn: 0, npages: 2, hva: 0x1000)).Build(),
        [Qemu(w => MunmapPages(w, 2), "L5"), .. Enumerable.Range(0, n).Select(i => Vcpu(i, [i % 2]))]);

    /// <summary>Guest RAM of m pages in m one-page memslots; qemu munmaps it while vCPU 0 faults the last gfn.</summary>
    private static Scenario Memslots(int m) => new($"bench-memslots-{m}", $"munmap vs a fault, {m} memslots",
        WorldSpec.Builder().Vma(0x1000, pages: (ulong)m).Vm(vm =>
        {
            for (var j = 0; j < m; j++) vm.Memslot(base_gfn: j, npages: 1, hva: 0x1000 + (ulong)j);
        }).Build(),
        [Qemu(w => MunmapPages(w, (ulong)m), "L5"), Vcpu(0, [m - 1])]);

    /// <summary>
    /// v one-page VMAs, each the guest RAM of a one-page memslot; the OOM killer kills qemu and the oom_reaper reaps every
    /// VMA (one invalidation each) while vCPU 0 faults gfn 0. (do_munmap models a range inside one VMA, so a munmap
    /// across several is not available.)
    /// </summary>
    private static Scenario Vmas(int v)
    {
        var world = WorldSpec.Builder();
        for (var j = 0; j < v; j++) world.Vma(0x1000 + (ulong)j, pages: 1);
        return new($"bench-vmas-{v}", $"oom reap of {v} VMAs vs a fault",
            world.Vm(vm =>
            {
                for (var j = 0; j < v; j++) vm.Memslot(base_gfn: j, npages: 1, hva: 0x1000 + (ulong)j);
            }).Build(),
            [OomKiller(), OomReaper(), Vcpu(0, [0])]);
    }
}
