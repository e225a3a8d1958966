using Lockstep.Engine;
using Lockstep.Engine.Samples;

// Timed benchmark of the engine: executions/s, ns per scheduling step, explored/optimal, memory over 1M executions.
// Run: dotnet run -c Release --project bench/Lockstep.Bench
static void Measure(string name, Func<SimTask> model, Func<IStrategy> strategy, long? optimal, long max = long.MaxValue)
{
    Explorer.Explore(model, strategy(), new ExplorationOptions { MaxExecutions = 2_000 });   // warm-up (JIT)
    var r = Explorer.Explore(model, strategy(), new ExplorationOptions { MaxExecutions = max });
    var ratio = optimal is { } o ? $"{(double)r.Executions / o:0.00}" : "-";
    Console.WriteLine($"{name,-30} {r.Strategy,-16} {r.Executions,9} {ratio,6} {r.ExecutionsPerSecond,12:0} {r.Elapsed.TotalMilliseconds * 1e6 / r.Steps,8:0} {GC.GetTotalMemory(true) / 1024,8}");
}

Console.WriteLine($"{"program",-30} {"strategy",-16} {"explored",9} {"ratio",6} {"exec/s",12} {"ns/step",8} {"heap KiB",8}");
Measure("IndependentWriters(6)", Programs.IndependentWriters(6), () => new DporStrategy(), 1);
Measure("WritersOfOneVariable(8)", Programs.WritersOfOneVariable(8), () => new DporStrategy(), 40_320);
Measure("WriterAndReaders(12)", Programs.WriterAndReaders(12), () => new DporStrategy(), 4_096);
Measure("LockedIncrements(6)", Programs.LockedIncrements(6), () => new DporStrategy(), 720);
Measure("TwoThreadsTenSteps", Programs.TwoThreadsTenSteps(), () => new DporStrategy(), null);
Measure("TwoThreadsTenSteps", Programs.TwoThreadsTenSteps(), () => new RandomStrategy(1, 300_000), null);
Measure("TwoThreadsTenSteps", Programs.TwoThreadsTenSteps(), () => new PctStrategy(1, 3, 300_000), null);
Measure("WritersOfOneVariable(10), 1M", Programs.WritersOfOneVariable(10), () => new DporStrategy(), null, 1_000_000);
