using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Tests;

/// <summary>DPOR must explore exactly one execution per Mazurkiewicz trace on programs whose trace count is known.</summary>
public class DporCountTests
{
    private static ExplorationResult Dpor(Func<SimTask> model)
    {
        var result = Explorer.Explore(model, new DporStrategy());
        Assert.True(result.Exhaustive, "exploration should complete");
        Assert.Empty(result.Violations);
        return result;
    }

    private static long Factorial(int n) => n <= 1 ? 1 : n * Factorial(n - 1);

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(6)]
    public void IndependentWritersHaveOneTrace(int n)
        => Assert.Equal(1, Dpor(Programs.IndependentWriters(n)).Executions);

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void WritersOfOneVariableHaveNFactorialTraces(int n)
    {
        var r = Dpor(Programs.WritersOfOneVariable(n));
        Assert.Equal(Factorial(n), r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(6)]
    public void WriterAndReadersHaveTwoToTheNTraces(int n)
    {
        var r = Dpor(Programs.WriterAndReaders(n));
        Assert.Equal(1L << n, r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void LockedIncrementsHaveNFactorialTraces(int n)
    {
        var r = Dpor(Programs.LockedIncrements(n));
        Assert.Equal(Factorial(n), r.Executions - r.Pruned);
        Assert.Equal(0, r.Pruned);
    }
}
