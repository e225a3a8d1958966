using Lockstep.Engine;
using Lockstep.Engine.Samples;

namespace Lockstep.Tests;

/// <summary>What an exploration keeps: every distinct violation with how many executions hit it, and the fallback that spends a stopped budget.</summary>
public class ExplorerTests
{
    /// <summary>Three threads write 1, 2, 3 to x; afterwards a report names the last writer (3! = 6 traces, each value last in 2).</summary>
    private static Func<SimTask> LastWriterReported() => async () =>
    {
        var x = new Shared<int>("x");
        var threads = Enumerable.Range(1, 3).Select(v => Sim.Spawn($"w{v}", async () => await x.Write(v))).ToList();
        foreach (var t in threads) await t.Join();
        var last = await x.Read();
        Sim.Execution.Report(new Violation($"last-writer-{last}", $"w{last} wrote last"));
        Sim.Execution.Report(new Violation($"last-writer-{last}", "reported twice in one execution: counts once"));
    };

    [Fact]
    public void EveryDistinctViolationIsKeptWithTheNumberOfExecutionsThatHitIt()
    {
        var r = Explorer.Explore(LastWriterReported(), new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false });
        Assert.True(r.Exhaustive);
        Assert.Equal(6, r.Executions);
        Assert.Equal(new[] { "last-writer-1", "last-writer-2", "last-writer-3" }, r.Violations.Select(v => v.Key).Order());
        Assert.All(r.Violations, v => Assert.Equal(2, v.Hits));
        Assert.All(r.Violations, v => Assert.Equal("dpor", v.FoundBy));
    }

    [Fact]
    public void ADeadlocksKeyNamesTheStuckThreadsAndWhatTheyWaitOn()
    {
        var v = Assert.Single(Explorer.Explore(Programs.AbbaDeadlock(), new DporStrategy()).Violations);
        Assert.StartsWith("deadlock:", v.Key);
        Assert.Contains("t0 (waiting on B)", v.Key);
        Assert.Contains("t1 (waiting on A)", v.Key);
    }

    /// <summary>
    /// Seven threads race to claim a slot; a report when the last-spawned one wins. DPOR's depth-first order changes who
    /// moves first only after it has explored everything below the other six (6 × 6! executions), PCT's random
    /// priorities pick it first one time in seven.
    /// </summary>
    private static Func<SimTask> LastThreadClaimsFirst() => async () =>
    {
        const int n = 7;
        var slot = new Shared<int>("slot");
        var threads = Enumerable.Range(1, n).Select(id => Sim.Spawn($"t{id}", async () => await slot.CompareExchange(0, id))).ToList();
        foreach (var t in threads) await t.Join();
        if (await slot.Read() == n) Sim.Execution.Report(new Violation("last-first", $"t{n} claimed the slot first"));
    };

    private static ExplorationOptions Budget(Func<IStrategy>? fallback) => new()
    {
        StopOnFirstViolation = false,
        MaxTotalSteps = 20_000,
        Fallback = fallback,
        FallbackShare = 0.2,
    };

    [Fact]
    public void DporAloneDoesNotReachTheLateBugWithinItsShareOfTheBudget()
    {
        var r = Explorer.Explore(LastThreadClaimsFirst(), new DporStrategy(), Budget(null) with { MaxTotalSteps = 16_000 });
        Assert.Equal(("step budget", false), (r.StoppedBy, r.Exhaustive));
        Assert.Empty(r.Violations);
        Assert.Null(r.Fallback);
    }

    [Fact]
    public void WhenDporStopsAtItsShareThePctFallbackSpendsTheRestAndItsFindingsReplay()
    {
        var model = LastThreadClaimsFirst();
        var r = Explorer.Explore(model, new DporStrategy(), Budget(() => new PctStrategy(seed: 1, depth: 3, executions: long.MaxValue)) with { Shrink = false });
        Assert.Equal(("step budget", false), (r.StoppedBy, r.Exhaustive));
        Assert.InRange(r.Steps, 16_000, 16_000 + 100);   // DPOR's share: 80%, overrun by at most its last execution
        var fallback = Assert.IsType<FallbackRun>(r.Fallback);
        Assert.Equal(("pct(d=3, seed=1)", "step budget"), (fallback.Strategy, fallback.StoppedBy));
        Assert.InRange(r.Steps + fallback.Steps, 20_000, 20_000 + 100);
        Assert.Equal(r.Executions + fallback.Executions, r.TotalExecutions);
        var v = Assert.Single(r.Violations);
        Assert.Equal(("last-first", "pct(d=3, seed=1)"), (v.Kind, v.FoundBy));
        Assert.InRange(v.Hits, 1, fallback.Executions);
        // a PCT schedule is a schedule: the replay strategy re-runs it
        var replay = Explorer.Replay(model, v.Token);
        Assert.Null(replay.Divergence);
        Assert.Equal("last-first", Assert.Single(replay.Violations).Kind);
    }

    [Fact]
    public void AFallbackFindingIsShrunkToOneThatReplays()
    {
        var model = LastThreadClaimsFirst();
        var budget = Budget(() => new PctStrategy(seed: 1, depth: 3, executions: long.MaxValue));
        var found = Assert.Single(Explorer.Explore(model, new DporStrategy(), budget with { Shrink = false }).Violations);
        var v = Assert.Single(Explorer.Explore(model, new DporStrategy(), budget).Violations);
        Assert.Equal("pct(d=3, seed=1)", v.FoundBy);
        Assert.InRange(v.Preemptions, 0, found.Preemptions);
        Assert.Equal("last-first", Assert.Single(Explorer.Replay(model, v.Token).Violations).Kind);
    }

    [Fact]
    public void AFallbackDoesNotRunWhenTheStrategyFinishes()
    {
        var r = Explorer.Explore(LastWriterReported(), new DporStrategy(), Budget(() => new PctStrategy(1, 3, long.MaxValue)));
        Assert.True(r.Exhaustive);
        Assert.Null(r.Fallback);
        Assert.Equal(6, r.TotalExecutions);
    }
}
