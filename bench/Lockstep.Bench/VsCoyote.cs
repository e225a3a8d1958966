using System.Diagnostics;
using Lockstep.Engine;
using Lockstep.Engine.Samples;
using Microsoft.Coyote;
using Microsoft.Coyote.SystematicTesting;

namespace Lockstep.Bench;

/// <summary>
/// Lockstep against Coyote 1.7.11 (in-process <see cref="TestingEngine"/>, no IL rewriting) on the same programs, in
/// one run: scheduling decisions per second on correct programs, and iterations and wall time to the first bug
/// (median over seeds) with random and PCT search. Writes bench/results/coyote-throughput.csv and coyote-bugs.csv.
/// </summary>
public static class VsCoyote
{
    private const int Seeds = 15;
    private const uint BugCap = 2_000;        // iterations per seed; a seed that finds nothing counts as the cap
    private const int PctDepth = 3;           // Lockstep's d; Coyote's priority-change bound is d - 1

    private sealed record Pair(string Name, Func<Func<SimTask>> Lockstep, Func<Action> Coyote);

    private static readonly Pair[] Correct =
    {
        new("ping-pong(5 rounds)", () => SharedPrograms.PingPong(5), () => CoyotePrograms.PingPong(5)),
        new("notifier(2,2)", () => SharedPrograms.Notifier(2, 2, false), () => CoyotePrograms.Notifier(2, 2, false)),
    };

    private static readonly Pair[] Buggy =
    {
        new("abba", Programs.AbbaDeadlock, CoyotePrograms.AbbaDeadlock),
        new("lost-update(2)", () => Programs.LostUpdate(2), () => CoyotePrograms.LostUpdate(2)),
        new("notifier(1,1) planted", () => SharedPrograms.Notifier(1, 1, true), () => CoyotePrograms.Notifier(1, 1, true)),
        new("notifier(2,2) planted", () => SharedPrograms.Notifier(2, 2, true), () => CoyotePrograms.Notifier(2, 2, true)),
    };

    private readonly record struct Outcome(long Iterations, long Steps, double Seconds, bool Found);

    public static int Run()
    {
        var total = Stopwatch.StartNew();
        Console.WriteLine($"Lockstep vs Coyote 1.7.11 (in-process TestingEngine, controlled operations on threads); {Environment.ProcessorCount} cores, {DateTime.UtcNow:yyyy-MM-dd}");
        Warm();

        Console.WriteLine();
        Console.WriteLine("Throughput on correct programs, random search (Lockstep 20,000 iterations, Coyote 500; after a warm-up)");
        Console.WriteLine($"{"program",-22} {"tool",-9} {"iterations",10} {"decisions",10} {"iter/s",10} {"decisions/s",12} {"Lockstep/Coyote",16}");
        var throughput = new List<IReadOnlyList<object>>();
        foreach (var p in Correct)
        {
            var l = Lockstep(p.Lockstep(), new RandomStrategy(1, 20_000), stop: false);
            var c = Coyote(p.Coyote(), cfg => cfg.WithRandomStrategy(), 500, 1);
            if (l.Found || c.Found) throw new InvalidOperationException($"{p.Name}: a correct program reported a bug");
            var ratio = l.Steps / l.Seconds / (c.Steps / c.Seconds);
            foreach (var (tool, r) in new[] { ("lockstep", l), ("coyote", c) })
            {
                Console.WriteLine($"{p.Name,-22} {tool,-9} {r.Iterations,10:N0} {r.Steps,10:N0} {r.Iterations / r.Seconds,10:N0} {r.Steps / r.Seconds,12:N0} {(tool == "coyote" ? $"{ratio:N0}x" : ""),16}");
                throughput.Add(new object[] { p.Name, tool, r.Iterations, r.Steps, r.Seconds, r.Iterations / r.Seconds, r.Steps / r.Seconds });
            }
        }
        Console.WriteLine($"  -> {Results.WriteCsv("coyote-throughput", new[] { "program", "tool", "iterations", "decisions", "seconds", "iterations_per_s", "decisions_per_s" }, throughput)}");

        Console.WriteLine();
        Console.WriteLine($"To the first bug: median over seeds 1..{Seeds}, at most {BugCap:N0} iterations per seed (PCT: Lockstep d={PctDepth}, Coyote bound {PctDepth - 1})");
        Console.WriteLine($"{"program",-22} {"strategy",-7} {"L iter",7} {"C iter",7} {"L/C iter",8} {"L ms",8} {"C ms",8} {"C/L time",9} {"L found",7} {"C found",7}");
        var bugs = new List<IReadOnlyList<object>>();
        foreach (var p in Buggy)
            foreach (var strategy in new[] { "random", "pct" })
            {
                var l = new List<Outcome>();
                var c = new List<Outcome>();
                for (var seed = 1; seed <= Seeds; seed++)
                {
                    IStrategy ls = strategy == "random" ? new RandomStrategy((ulong)seed, BugCap) : new PctStrategy((ulong)seed, PctDepth, BugCap);
                    Func<Configuration, Configuration> cs = strategy == "random" ? cfg => cfg.WithRandomStrategy() : cfg => cfg.WithPrioritizationStrategy(false, PctDepth - 1);
                    l.Add(Lockstep(p.Lockstep(), ls, stop: true));
                    c.Add(Coyote(p.Coyote(), cs, BugCap, (uint)seed));
                    bugs.Add(new object[] { p.Name, strategy, seed, "lockstep", l[^1].Iterations, l[^1].Steps, l[^1].Seconds, l[^1].Found });
                    bugs.Add(new object[] { p.Name, strategy, seed, "coyote", c[^1].Iterations, c[^1].Steps, c[^1].Seconds, c[^1].Found });
                }
                double li = Results.Median(l.Select(r => (double)r.Iterations)), ci = Results.Median(c.Select(r => (double)r.Iterations));
                double lt = Results.Median(l.Select(r => r.Seconds)), ct = Results.Median(c.Select(r => r.Seconds));
                Console.WriteLine($"{p.Name,-22} {strategy,-7} {li,7:0.#} {ci,7:0.#} {li / ci,8:0.00} {lt * 1e3,8:0.000} {ct * 1e3,8:0.0} {ct / lt,8:N0}x {l.Count(r => r.Found),3}/{Seeds} {c.Count(r => r.Found),5}/{Seeds}");
            }
        Console.WriteLine($"  -> {Results.WriteCsv("coyote-bugs", new[] { "program", "strategy", "seed", "tool", "iterations", "decisions", "seconds", "found" }, bugs)}");
        Console.WriteLine($"\ncoyote bench done in {total.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    private static void Warm()
    {
        foreach (var p in Correct.Concat(Buggy))
        {
            Lockstep(p.Lockstep(), new RandomStrategy(99, 2_000), stop: false);
            Coyote(p.Coyote(), cfg => cfg.WithRandomStrategy(), 20, 99);
        }
    }

    private static Outcome Lockstep(Func<SimTask> model, IStrategy strategy, bool stop)
    {
        var clock = Stopwatch.StartNew();
        var r = Explorer.Explore(model, strategy, new ExplorationOptions { Shrink = false, StopOnFirstViolation = stop });
        return new Outcome(r.Executions, r.Steps, clock.Elapsed.TotalSeconds, r.Violations.Count > 0);
    }

    private static Outcome Coyote(Action test, Func<Configuration, Configuration> strategy, uint iterations, uint seed)
    {
        var config = strategy(Configuration.Create().WithTestingIterations(iterations).WithRandomGeneratorSeed(seed).WithTelemetryEnabled(false));
        var console = Console.Out;
        Console.SetOut(TextWriter.Null);   // the engine narrates every iteration on the console whatever its verbosity
        var clock = Stopwatch.StartNew();
        TestReport r;
        try
        {
            using var engine = TestingEngine.Create(config, test);
            engine.Run();
            r = engine.TestReport;
        }
        finally
        {
            Console.SetOut(console);
        }
        return new Outcome(r.NumOfExploredFairPaths + r.NumOfExploredUnfairPaths, (long)r.TotalExploredFairSteps + r.TotalExploredUnfairSteps,
            clock.Elapsed.TotalSeconds, r.NumOfFoundBugs > 0);
    }
}
