using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Lockstep.Engine;
using static Lockstep.Kernel.Api;

namespace Lockstep.Kernel;

/// <summary>
/// An SRCU domain (KERNEL-FACTS §4.5). Readers take tickets; a grace period waits for every reader whose ticket
/// predates it, so a reader that synchronizes its own domain waits for itself: a real deadlock. Lockdep sees read
/// sides as recursive reads and synchronize as lock_sync.
/// </summary>
public sealed class srcu_struct
{
    public srcu_struct(Kernel kernel, string name)
    {
        Name = name;
        dep_map = new LockdepMap(kernel.Lockdep.Class(name, WaitType.Inv));
        Readers = new Shared<SrcuReaders>($"{name}.readers", new SrcuReaders(0, ImmutableSortedSet<long>.Empty));
        Callbacks = new Shared<ImmutableQueue<(long Ticket, Func<SimTask> Func)>>($"{name}.callbacks", ImmutableQueue<(long, Func<SimTask>)>.Empty);
        Kernel = kernel;
    }

    public string Name { get; }

    public LockdepMap dep_map { get; }

    internal Kernel Kernel { get; }

    internal Shared<SrcuReaders> Readers { get; }

    internal Shared<ImmutableQueue<(long Ticket, Func<SimTask> Func)>> Callbacks { get; }

    internal Shared<bool> CallbackRunning { get; } = new("srcu.cb_running");

    internal bool WorkerStarted;

    public override string ToString() => Name;
}

internal sealed record SrcuReaders(long NextTicket, ImmutableSortedSet<long> Active) : ITraceValue
{
    public string TraceText => $"active [{string.Join(", ", Active)}], next ticket {NextTicket}";

    public bool GracePeriodOver(long barrier) => Active.Count == 0 || Active.Min >= barrier;
}

public static class Srcu
{
    public static async SimTask<int> srcu_read_lock(srcu_struct ssp, [CallerMemberName] string site = "")
    {
        var t = current;
        t.Kernel.Lockdep.Acquire(t, ssp.dep_map.Class, ssp.dep_map, 2, false, site);
        if (Sim.Tracing) Emit(t, SrcuOp.ReadLock, ssp);
        var before = await ssp.Readers.Update(static r => r with { NextTicket = r.NextTicket + 1, Active = r.Active.Add(r.NextTicket) });
        return (int)before.NextTicket;
    }

    public static async SimTask srcu_read_unlock(srcu_struct ssp, int idx, [CallerMemberName] string site = "")
    {
        var t = current;
        t.Kernel.Lockdep.Release(t, ssp.dep_map.Class, ssp.dep_map, site);
        if (Sim.Tracing) Emit(t, SrcuOp.ReadUnlock, ssp);
        await ssp.Readers.Update(r => r with { Active = r.Active.Remove(idx) });
    }

    public static SimTask synchronize_srcu(srcu_struct ssp) => __synchronize_srcu(ssp);

    public static SimTask synchronize_srcu_expedited(srcu_struct ssp) => __synchronize_srcu(ssp);

    /// <summary>kernel/rcu/srcutree.c: lock_sync on the domain's map, might_sleep, then wait for the grace period.</summary>
    private static async SimTask __synchronize_srcu(srcu_struct ssp)
    {
        using var fn = KernelFunction.Enter();
        lock_map_sync(ssp.dep_map);
        __might_resched("kernel/rcu/srcutree.c", 1461, 0, "__might_sleep");
        var before = await ssp.Readers.Update(static r => r with { NextTicket = r.NextTicket + 1 });
        var barrier = before.NextTicket;
        if (Sim.Tracing) Emit(current, SrcuOp.Synchronize, ssp);
        await ssp.Readers.WaitUntil(r => r.GracePeriodOver(barrier));
    }

    /// <summary>Queues <paramref name="func"/> to run after a grace period, from the SRCU callback worker with BH disabled. Never blocks.</summary>
    public static async SimTask call_srcu(srcu_struct ssp, Func<SimTask> func)
    {
        if (Sim.Tracing) Emit(current, SrcuOp.CallSrcu, ssp);
        var before = await ssp.Readers.Update(static r => r with { NextTicket = r.NextTicket + 1 });
        await ssp.Callbacks.Update(q => q.Enqueue((before.NextTicket, func)));
        if (!ssp.WorkerStarted)
        {
            ssp.WorkerStarted = true;
            Kernel.State.SrcuWithCallbacks.Add(ssp);
            ssp.Kernel.kthread_run(() => srcu_invoke_callbacks(ssp), "kworker/0:1", 20, daemon: true);
        }
    }

    /// <summary>
    /// The SRCU callback worker: kernel/rcu/srcutree.c srcu_invoke_callbacks, the per-CPU work item (INIT_WORK(&amp;sdp->work,
    /// srcu_invoke_callbacks)), runs each ready callback between local_bh_disable() and local_bh_enable(); see
    /// <see cref="Api.local_bh_disable"/> for what that context is on !RT and on RT.
    /// </summary>
    private static async SimTask srcu_invoke_callbacks(srcu_struct ssp)
    {
        while (true)
        {
            var queue = await ssp.Callbacks.WaitUntil(static q => !q.IsEmpty);
            var (ticket, func) = queue.Peek();
            await ssp.Readers.WaitUntil(r => r.GracePeriodOver(ticket));
            await ssp.CallbackRunning.Write(true);
            await ssp.Callbacks.Update(static q => q.Dequeue());
            using (KernelFunction.Enter())
            {
                local_bh_disable();
                await func();
                local_bh_enable();
            }
            await ssp.CallbackRunning.Write(false);
        }
    }

    private static void Emit(TaskStruct t, SrcuOp op, srcu_struct ssp) => Sim.Emit(new SrcuOperation(op, ssp.Name, t.stack.Count));

    /// <summary>Waits until every callback queued so far has run.</summary>
    public static async SimTask srcu_barrier(srcu_struct ssp)
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        await ssp.Callbacks.WaitUntil(static q => q.IsEmpty);
        await ssp.CallbackRunning.WaitUntil(static r => !r);
    }
}
