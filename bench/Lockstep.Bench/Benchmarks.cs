using BenchmarkDotNet.Attributes;
using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Bench;

/// <summary>A full DPOR exploration of each analytic program per operation.</summary>
[MemoryDiagnoser]
public class DporBenchmarks
{
    private static readonly ExplorationOptions NoShrink = new() { Shrink = false };

    [Benchmark] public long IndependentWriters6() => Explore(Programs.IndependentWriters(6));

    [Benchmark] public long WritersOfOneVariable6() => Explore(Programs.WritersOfOneVariable(6));

    [Benchmark] public long WriterAndReaders8() => Explore(Programs.WriterAndReaders(8));

    [Benchmark] public long LockedIncrements5() => Explore(Programs.LockedIncrements(5));

    [Benchmark] public long TwoThreadsTenSteps() => Explore(Programs.TwoThreadsTenSteps());

    private static long Explore(Func<SimTask> model) => Explorer.Explore(model, new DporStrategy(), NoShrink).Executions;
}

/// <summary>Sampling strategies on the throughput program: one operation = one execution.</summary>
[MemoryDiagnoser]
public class SamplingBenchmarks
{
    private const int Executions = 10_000;
    private static readonly ExplorationOptions NoShrink = new() { Shrink = false };

    [Benchmark(OperationsPerInvoke = Executions)]
    public long RandomTwoThreadsTenSteps()
        => Explorer.Explore(Programs.TwoThreadsTenSteps(), new RandomStrategy(1, Executions), NoShrink).Steps;

    [Benchmark(OperationsPerInvoke = Executions)]
    public long PctTwoThreadsTenSteps()
        => Explorer.Explore(Programs.TwoThreadsTenSteps(), new PctStrategy(1, 3, Executions), NoShrink).Steps;
}
