namespace Lockstep.Engine.Samples;

/// <summary>
/// Small programs with known answers: the explorer's own test bed (analytic trace counts, planted bugs) and the
/// demo that <c>lockstep demo</c> runs.
/// </summary>
public static class Programs
{
    /// <summary>N threads each write their own variable: 1 Mazurkiewicz trace.</summary>
    public static Func<SimTask> IndependentWriters(int n) => async () =>
    {
        var threads = new SimThreadHandle[n];
        for (var i = 0; i < n; i++)
        {
            var x = new Shared<int>($"x{i}");
            threads[i] = Sim.Spawn($"w{i}", async () => await x.Write(1));
        }
        foreach (var t in threads) await t.Join();
    };

    /// <summary>N threads write one variable: N! traces.</summary>
    public static Func<SimTask> WritersOfOneVariable(int n) => async () =>
    {
        var x = new Shared<int>("x");
        var threads = new SimThreadHandle[n];
        for (var i = 0; i < n; i++)
        {
            var v = i + 1;
            threads[i] = Sim.Spawn($"w{i}", async () => await x.Write(v));
        }
        foreach (var t in threads) await t.Join();
    };

    /// <summary>One writer and N readers of one variable: 2^N traces.</summary>
    public static Func<SimTask> WriterAndReaders(int n) => async () =>
    {
        var x = new Shared<int>("x");
        var threads = new SimThreadHandle[n + 1];
        threads[0] = Sim.Spawn("writer", async () => await x.Write(1));
        for (var i = 0; i < n; i++)
            threads[i + 1] = Sim.Spawn($"r{i}", async () => await x.Read());
        foreach (var t in threads) await t.Join();
    };

    /// <summary>N threads increment a counter under a lock: N! traces, and the count is always N.</summary>
    public static Func<SimTask> LockedIncrements(int n) => async () =>
    {
        var x = new Shared<int>("x");
        var lk = new SpinLock("lock");
        var threads = new SimThreadHandle[n];
        for (var i = 0; i < n; i++)
            threads[i] = Sim.Spawn($"t{i}", async () =>
            {
                await lk.Acquire();
                var v = await x.Read();
                await x.Write(v + 1);
                await lk.Release();
            });
        foreach (var t in threads) await t.Join();
        Sim.Assert(await x.Read() == n, $"x == {n}");
    };

    /// <summary>
    /// The classic DPOR benchmark lastzero(n): a[0..n] = 0; one thread scans i = n down to 0 until it reads a[i] == 0,
    /// threads 1..n each write a[j] = a[j-1] + 1. Its Mazurkiewicz traces: 12, 28, 64, 144, 320, 704 for n = 3..8.
    /// </summary>
    public static Func<SimTask> LastZero(int n) => async () =>
    {
        var a = new Shared<int>[n + 1];
        for (var i = 0; i <= n; i++) a[i] = new Shared<int>($"a[{i}]");
        var threads = new SimThreadHandle[n + 1];
        threads[0] = Sim.Spawn("scanner", async () =>
        {
            for (var i = n; i >= 0 && await a[i].Read() != 0; i--) { }
        });
        for (var j = 1; j <= n; j++)
        {
            var k = j;
            threads[j] = Sim.Spawn($"w{j}", async () => await a[k].Write(await a[k - 1].Read() + 1));
        }
        foreach (var t in threads) await t.Join();
    };

    /// <summary>Planted bug: N threads increment without the lock; an update is lost.</summary>
    public static Func<SimTask> LostUpdate(int n) => async () =>
    {
        var x = new Shared<int>("x");
        var threads = new SimThreadHandle[n];
        for (var i = 0; i < n; i++)
            threads[i] = Sim.Spawn($"t{i}", async () =>
            {
                var v = await x.Read();
                await x.Write(v + 1);
            });
        foreach (var t in threads) await t.Join();
        var final = await x.Read();
        Sim.Assert(final == n, $"x == {n} (it is {final})");
    };

    /// <summary>Planted bug: two threads take two locks in opposite orders.</summary>
    public static Func<SimTask> AbbaDeadlock() => async () =>
    {
        var a = new SpinLock("A");
        var b = new SpinLock("B");
        var t0 = Sim.Spawn("t0", async () =>
        {
            await a.Acquire();
            await b.Acquire();
            await b.Release();
            await a.Release();
        });
        var t1 = Sim.Spawn("t1", async () =>
        {
            await b.Acquire();
            await a.Acquire();
            await a.Release();
            await b.Release();
        });
        await t0.Join();
        await t1.Join();
    };

    /// <summary>The same two threads taking the locks in one order: never deadlocks.</summary>
    public static Func<SimTask> OrderedLocks() => async () =>
    {
        var a = new SpinLock("A");
        var b = new SpinLock("B");
        async SimTask Body()
        {
            await a.Acquire();
            await b.Acquire();
            await b.Release();
            await a.Release();
        }
        var t0 = Sim.Spawn("t0", Body);
        var t1 = Sim.Spawn("t1", Body);
        await t0.Join();
        await t1.Join();
    };

    /// <summary>Planted bug that needs a specific deep interleaving: a flag checked then acted on (check-then-act).</summary>
    public static Func<SimTask> CheckThenAct() => async () =>
    {
        var slot = new Shared<int>("slot");
        var claims = new Shared<int>("claims");
        async SimTask Claim()
        {
            if (await slot.Read() == 0)
            {
                await slot.Write(Sim.CurrentThread.Id);
                await claims.Update(c => c + 1);
            }
        }
        var t0 = Sim.Spawn("t0", Claim);
        var t1 = Sim.Spawn("t1", Claim);
        await t0.Join();
        await t1.Join();
        Sim.Assert(await claims.Read() <= 1, "at most one thread claims the slot");
    };

    /// <summary>A thread that spins forever waiting for a flag nobody sets, yielding: a livelock.</summary>
    public static Func<SimTask> Spinner() => async () =>
    {
        var flag = new Shared<bool>("flag");
        var t = Sim.Spawn("spinner", async () =>
        {
            while (!await flag.Read()) await Sim.Yield();
        });
        await t.Join();
    };

    /// <summary>Model code that throws.</summary>
    public static Func<SimTask> Crashes() => async () =>
    {
        var x = new Shared<int>("x");
        var t = Sim.Spawn("t", async () =>
        {
            var v = await x.Read();
            if (v == 0) throw new InvalidOperationException("boom");
        });
        await t.Join();
    };

    /// <summary>Two threads, ten steps each, on two variables: the throughput benchmark's program.</summary>
    public static Func<SimTask> TwoThreadsTenSteps() => async () =>
    {
        var x = new Shared<int>("x");
        var y = new Shared<int>("y");
        async SimTask Body(Shared<int> mine, Shared<int> other)
        {
            for (var i = 0; i < 5; i++)
            {
                await mine.Write(i);
                await other.Read();
            }
        }
        var t0 = Sim.Spawn("t0", () => Body(x, y));
        var t1 = Sim.Spawn("t1", () => Body(y, x));
        await t0.Join();
        await t1.Join();
    };
}
