using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Tests;

/// <summary>Every strategy finds the planted bugs and passes the correct programs.</summary>
public class StrategyTests
{
    public static TheoryData<string> Strategies => new() { "dpor", "dpor-pb1", "random", "pct" };

    private static IStrategy Make(string name) => name switch
    {
        "dpor" => new DporStrategy(),
        "dpor-pb1" => new DporStrategy(preemptionBound: 1),
        "random" => new RandomStrategy(seed: 1, executions: 2_000),
        "pct" => new PctStrategy(seed: 1, depth: 3, executions: 2_000),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Strategies))]
    public void FindsLostUpdate(string strategy)
    {
        var r = Explorer.Explore(Programs.LostUpdate(2), Make(strategy));
        var v = Assert.Single(r.Violations);
        Assert.Equal("assertion", v.Kind);
        Assert.Contains("x == 2", v.Message);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void FindsAbbaDeadlock(string strategy)
    {
        var r = Explorer.Explore(Programs.AbbaDeadlock(), Make(strategy));
        var v = Assert.Single(r.Violations);
        Assert.Equal("deadlock", v.Kind);
        Assert.Contains("t0 (waiting on B)", v.Message);
        Assert.Contains("t1 (waiting on A)", v.Message);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void FindsCheckThenAct(string strategy)
    {
        var r = Explorer.Explore(Programs.CheckThenAct(), Make(strategy));
        Assert.Equal("assertion", Assert.Single(r.Violations).Kind);
    }

    [Theory]
    [MemberData(nameof(Strategies))]
    public void PassesCorrectPrograms(string strategy)
    {
        Assert.Empty(Explorer.Explore(Programs.LockedIncrements(3), Make(strategy)).Violations);
        Assert.Empty(Explorer.Explore(Programs.OrderedLocks(), Make(strategy)).Violations);
    }

    /// <summary>
    /// PCT's change points fall on steps where another thread could run, within the length of the program: on these
    /// 10-20-step programs every seed 1..30 finds the bug within 50 executions (change points spread over 64 steps, most
    /// past the end, needed up to 117).
    /// </summary>
    [Fact]
    public void PctFindsShortBugsOnEverySeedWithinFiftyExecutions()
    {
        foreach (var program in new[] { Programs.LostUpdate(2), Programs.AbbaDeadlock(), Programs.CheckThenAct() })
            for (var seed = 1UL; seed <= 30; seed++)
                Assert.NotEmpty(Explorer.Explore(program, new PctStrategy(seed, depth: 3, executions: 50), new ExplorationOptions { Shrink = false }).Violations);
    }

    [Fact]
    public void ExhaustiveOnlyWithoutBounds()
    {
        Assert.True(Explorer.Explore(Programs.OrderedLocks(), new DporStrategy()).Exhaustive);
        Assert.False(Explorer.Explore(Programs.OrderedLocks(), new RandomStrategy(1, 10)).Exhaustive);
        Assert.False(Explorer.Explore(Programs.LockedIncrements(3), new DporStrategy(), new ExplorationOptions { MaxExecutions = 2 }).Exhaustive);
    }

    [Fact]
    public void ReportsLivelockAtTheStepBound()
    {
        var r = Explorer.Explore(Programs.Spinner(), new DporStrategy(), new ExplorationOptions { MaxSteps = 200 });
        var v = Assert.Single(r.Violations);
        Assert.Equal("livelock", v.Kind);
        Assert.Contains("200 steps", v.Message);
    }

    [Fact]
    public void ReportsModelCrashWithItsThread()
    {
        var v = Assert.Single(Explorer.Explore(Programs.Crashes(), new DporStrategy()).Violations);
        Assert.Equal("crash", v.Kind);
        Assert.Contains("InvalidOperationException in thread 't': boom", v.Message);
    }

    [Fact]
    public void KeepsExploringAfterAViolationWhenAsked()
    {
        var r = Explorer.Explore(Programs.LostUpdate(2), new DporStrategy(),
            new ExplorationOptions { StopOnFirstViolation = false });
        Assert.True(r.Exhaustive);
        Assert.Single(r.Violations);   // one counterexample per distinct failure
        Assert.True(r.Executions > 1);
    }
}
