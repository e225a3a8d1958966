using Lockstep.Engine;
using Lockstep.Engine.Samples;
using SpinLock = Lockstep.Engine.Samples.SpinLock;

namespace Lockstep.Bench;

/// <summary>
/// The programs the comparison modes run, in Lockstep's API; <see cref="CoyotePrograms"/> and bench/spin/notifier.pml
/// are the same logic for Coyote and Spin. One shared-variable access or lock operation is one scheduling point in all
/// three. ABBA and the lost update are the engine's own samples (<see cref="Programs"/>).
/// </summary>
public static class SharedPrograms
{
    /// <summary>Two threads take turns on one lock, each incrementing a counter under it <paramref name="rounds"/> times.</summary>
    public static Func<SimTask> PingPong(int rounds) => async () =>
    {
        var lk = new SpinLock("lock");
        var x = new Shared<int>("x");
        async SimTask Body()
        {
            for (var i = 0; i < rounds; i++)
            {
                await lk.Acquire();
                var v = await x.Read();
                await x.Write(v + 1);
                await lk.Release();
            }
        }
        var t0 = Sim.Spawn("t0", Body);
        var t1 = Sim.Spawn("t1", Body);
        await t0.Join();
        await t1.Join();
        Sim.Assert(await x.Read() == 2 * rounds, $"x == {2 * rounds}");
    };

    /// <summary>
    /// An mmu-notifier-like protocol between <paramref name="invalidators"/> invalidators and <paramref name="faults"/>
    /// faults of a secondary MMU. Invalidator: lock; count++; unlock; lock; zap; unlock; gen++ (the primary mapping
    /// changes); lock; seq++; count--; unlock. Fault: read seq and gen; lock; if count == 0 and seq is unchanged, map gen;
    /// unlock. At the end a mapping, if any, must hold the current gen. <paramref name="skipCountCheck"/> plants the bug:
    /// a fault that maps during an invalidation maps the page about to be replaced.
    /// </summary>
    public static Func<SimTask> Notifier(int invalidators, int faults, bool skipCountCheck) => async () =>
    {
        var mmuLock = new SpinLock("mmu_lock");
        var count = new Shared<int>("count");
        var seq = new Shared<int>("seq");
        var gen = new Shared<int>("gen");
        var mapped = new Shared<int>("mapped", -1);   // the gen the secondary MMU maps, -1: none
        async SimTask Invalidate()
        {
            await mmuLock.Acquire();
            await count.Update(static c => c + 1);
            await mmuLock.Release();
            await mmuLock.Acquire();
            await mapped.Write(-1);
            await mmuLock.Release();
            await gen.Update(static g => g + 1);
            await mmuLock.Acquire();
            await seq.Update(static s => s + 1);
            await count.Update(static c => c - 1);
            await mmuLock.Release();
        }
        async SimTask Fault()
        {
            var s = await seq.Read();
            var g = await gen.Read();
            await mmuLock.Acquire();
            if ((skipCountCheck || await count.Read() == 0) && await seq.Read() == s) await mapped.Write(g);
            await mmuLock.Release();
        }
        var threads = new List<SimThreadHandle>();
        for (var i = 0; i < invalidators; i++) threads.Add(Sim.Spawn($"inv{i}", Invalidate));
        for (var i = 0; i < faults; i++) threads.Add(Sim.Spawn($"fault{i}", Fault));
        foreach (var t in threads) await t.Join();
        var m = await mapped.Read();
        var current = await gen.Read();
        Sim.Assert(m == -1 || m == current, $"no stale page is mapped (mapped gen {m}, current {current})");
    };
}
