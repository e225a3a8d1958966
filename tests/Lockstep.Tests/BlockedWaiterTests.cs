using Lockstep.Engine;
using SpinLock = Lockstep.Engine.Samples.SpinLock;

namespace Lockstep.Tests;

/// <summary>
/// A waiter still blocked when an execution ends could have passed in a window the execution went through (issue 15):
/// DPOR must race its pending operation too, or it calls a search exhaustive that never tried the window.
/// </summary>
public class BlockedWaiterTests
{
    private static ExplorationResult Dpor(Func<SimTask> model)
        => Explorer.Explore(model, new DporStrategy(), new ExplorationOptions { StopOnFirstViolation = false, Shrink = false });

    private static async SimTask WaitForOneThenFail(Shared<int> x)
    {
        await x.WaitUntil(static v => v == 1);
        Sim.Assert(false, "the waiter saw x == 1");
    }

    private static async SimTask SetThenReset(Shared<int> x)
    {
        await x.Write(1);
        await x.Write(0);
    }

    [Fact]
    public void ADaemonWaiterPassesInTheWindowWhereItsConditionHeld()
    {
        var r = Dpor(async () =>
        {
            var x = new Shared<int>("x");
            Sim.SpawnDaemon("waiter", () => WaitForOneThenFail(x));
            await Sim.Spawn("setter", () => SetThenReset(x)).Join();
        });
        Assert.True(r.Exhaustive);
        Assert.Contains(r.Violations, v => v.Kind == "assertion");
    }

    [Fact]
    public void AnOrdinaryWaiterReportsTheAssertionNotOnlyTheDeadlock()
    {
        var r = Dpor(async () =>
        {
            var x = new Shared<int>("x");
            var waiter = Sim.Spawn("waiter", () => WaitForOneThenFail(x));
            var setter = Sim.Spawn("setter", () => SetThenReset(x));
            await setter.Join();
            await waiter.Join();
        });
        Assert.True(r.Exhaustive);
        Assert.Contains(r.Violations, v => v.Kind == "deadlock");
        Assert.Contains(r.Violations, v => v.Kind == "assertion");
    }

    [Fact]
    public void ADaemonTakesTheLockBetweenTwoCriticalSections()
    {
        var r = Dpor(async () =>
        {
            var lk = new SpinLock("L");
            var t = Sim.Spawn("t", async () =>
            {
                await lk.Acquire();
                await lk.Release();
                await lk.Acquire();
            });
            Sim.SpawnDaemon("daemon", async () =>
            {
                await lk.Acquire();
                Sim.Assert(false, "the daemon took L");
            });
            await t.Join();
        });
        Assert.True(r.Exhaustive);
        Assert.Contains(r.Violations, v => v.Kind == "assertion");
    }

    [Fact]
    public void ADaemonThatTakesTheOnlyTokenDeadlocksTheThread()
    {
        var r = Dpor(async () =>
        {
            var y = new Shared<int>("y");
            Sim.SpawnDaemon("daemon", async () => await y.WaitAndUpdate(static v => v > 0, static v => v - 1));
            await Sim.Spawn("t", async () =>
            {
                await y.Write(1);
                await y.WaitAndUpdate(static v => v > 0, static v => v - 1);
            }).Join();
        });
        Assert.True(r.Exhaustive);
        var deadlock = Assert.Single(r.Violations);
        Assert.Equal("deadlock", deadlock.Kind);
    }

    /// <summary>The other way: with the window closed (the setter never sets x to 1), nothing is reported.</summary>
    [Fact]
    public void ADaemonWaiterWhoseConditionNeverHoldsReportsNothing()
    {
        var r = Dpor(async () =>
        {
            var x = new Shared<int>("x");
            Sim.SpawnDaemon("waiter", () => WaitForOneThenFail(x));
            await Sim.Spawn("setter", async () =>
            {
                await x.Write(2);
                await x.Write(0);
            }).Join();
        });
        Assert.True(r.Exhaustive);
        Assert.Empty(r.Violations);
    }
}
