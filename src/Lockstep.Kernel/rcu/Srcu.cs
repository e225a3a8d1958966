using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Lockstep.Engine;
using static Lockstep.Kernel.Api;

namespace Lockstep.Kernel;

/// <summary>
/// An SRCU domain (KERNEL-FACTS §4.5). Each task keeps its read sections of the domain in state of its own, as a CPU
/// keeps its per-CPU srcu_ctrs: two readers never touch the same state, so the explorer orders readers only against
/// grace periods, not against each other. A grace period first looks at every task's sections, then waits until each
/// section it saw open has ended, so a reader that synchronizes its own domain waits for itself: a real deadlock.
/// Lockdep sees read sides as recursive reads and synchronize as lock_sync.
/// </summary>
public sealed class srcu_struct
{
    public srcu_struct(Kernel kernel, string name)
    {
        Name = name;
        dep_map = new LockdepMap(kernel.Lockdep.Class(name, WaitType.Inv));
        Callbacks = new Shared<ImmutableQueue<(ImmutableArray<(SrcuReader Reader, long Last)> Waits, Func<SimTask> Func)>>($"{name}.callbacks",
            ImmutableQueue<(ImmutableArray<(SrcuReader, long)>, Func<SimTask>)>.Empty);
        Kernel = kernel;
    }

    public string Name { get; }

    public LockdepMap dep_map { get; }

    internal Kernel Kernel { get; }

    /// <summary>Queued callbacks, each with the sections (reader, last open section) its grace period waits for.</summary>
    internal Shared<ImmutableQueue<(ImmutableArray<(SrcuReader Reader, long Last)> Waits, Func<SimTask> Func)>> Callbacks { get; }

    internal Shared<bool> CallbackRunning { get; } = new("srcu.cb_running");

    internal bool WorkerStarted;

    public override string ToString() => Name;
}

/// <summary>One task's read sections of one domain: its next section number and the sections still open.</summary>
internal sealed class SrcuReader
{
    public SrcuReader(string name) => State = new Shared<SrcuReaderState>(name, new SrcuReaderState(0, ImmutableSortedSet<long>.Empty));

    public readonly Shared<SrcuReaderState> State;
}

internal sealed record SrcuReaderState(long Next, ImmutableSortedSet<long> Active) : ITraceValue
{
    public string TraceText => $"active [{string.Join(", ", Active)}], next {Next}";

    /// <summary>Every section up to <paramref name="last"/> has ended.</summary>
    public bool EndedUpTo(long last) => Active.Count == 0 || Active.Min > last;
}

public static class Srcu
{
    public static async SimTask<int> srcu_read_lock(srcu_struct ssp, [CallerMemberName] string site = "")
    {
        var t = current;
        t.Kernel.Lockdep.Acquire(t, ssp.dep_map.Class, ssp.dep_map, 2, false, site);
        if (t.Tracing) Emit(t, SrcuOp.ReadLock, ssp);
        var before = await ReaderOf(t, ssp).State.Update(static r => r with { Next = r.Next + 1, Active = r.Active.Add(r.Next) });
        return (int)before.Next;
    }

    public static async SimTask srcu_read_unlock(srcu_struct ssp, int idx, [CallerMemberName] string site = "")
    {
        var t = current;
        t.Kernel.Lockdep.Release(t, ssp.dep_map.Class, ssp.dep_map, site);
        if (t.Tracing) Emit(t, SrcuOp.ReadUnlock, ssp);
        var reader = ReaderOf(t, ssp);
        if (!reader.State.Peek.Active.Contains(idx))   // the message is formatted only when the assertion fails
            Sim.Assert(false, $"srcu_read_unlock({ssp.Name}, {idx}) by {t}, which holds no such section");
        await reader.State.Update(r => r with { Active = r.Active.Remove(idx) });
    }

    /// <summary>
    /// The task's sections of the domain, created on first use by the task or by a grace period looking at it (the
    /// same object either way: creating it changes nothing a task can see).
    /// </summary>
    private static SrcuReader ReaderOf(TaskStruct t, srcu_struct ssp)
    {
        if (!t.srcu_readers.TryGetValue(ssp, out var reader))
            t.srcu_readers[ssp] = reader = new SrcuReader($"{ssp.Name}.{t}.readers");
        return reader;
    }

    /// <summary>For each task, its last open section of the domain (the sections a grace period starting now waits for).</summary>
    private static async SimTask<ImmutableArray<(SrcuReader Reader, long Last)>> OpenSections(srcu_struct ssp)
    {
        var open = ImmutableArray.CreateBuilder<(SrcuReader, long)>();
        var tasks = Kernel.State.Tasks;
        for (var i = 0; i < tasks.Count; i++)
        {
            var reader = ReaderOf(tasks[i], ssp);
            var state = await reader.State.Read();
            if (state.Active.Count > 0) open.Add((reader, state.Active.Max));
        }
        return open.ToImmutable();
    }

    private static async SimTask WaitForSections(ImmutableArray<(SrcuReader Reader, long Last)> open)
    {
        foreach (var (reader, last) in open) await reader.State.WaitUntil(r => r.EndedUpTo(last));
    }

    public static SimTask synchronize_srcu(srcu_struct ssp) => __synchronize_srcu(ssp);

    public static SimTask synchronize_srcu_expedited(srcu_struct ssp) => __synchronize_srcu(ssp);

    /// <summary>kernel/rcu/srcutree.c: lock_sync on the domain's map, might_sleep, then wait for the grace period.</summary>
    private static async SimTask __synchronize_srcu(srcu_struct ssp)
    {
        using var fn = KernelFunction.Enter();
        lock_map_sync(ssp.dep_map);
        __might_resched("kernel/rcu/srcutree.c", 1461, 0, "__might_sleep");
        if (Sim.Tracing) Emit(current, SrcuOp.Synchronize, ssp);
        await WaitForSections(await OpenSections(ssp));
    }

    /// <summary>Queues <paramref name="func"/> to run after a grace period, from the SRCU callback worker with BH disabled. Never blocks.</summary>
    public static async SimTask call_srcu(srcu_struct ssp, Func<SimTask> func)
    {
        if (Sim.Tracing) Emit(current, SrcuOp.CallSrcu, ssp);
        var open = await OpenSections(ssp);
        await ssp.Callbacks.Update(q => q.Enqueue((open, func)));
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
            var (open, func) = queue.Peek();
            await WaitForSections(open);
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

    /// <summary>
    /// cleanup_srcu_struct: the domain is about to be freed; WARN_ON(srcu_readers_active(ssp)) if any task is still
    /// inside a read section (the kernel then leaks the domain rather than free it under the reader).
    /// </summary>
    public static async SimTask cleanup_srcu_struct(srcu_struct ssp)
    {
        using var fn = KernelFunction.Enter();
        var open = await OpenSections(ssp);
        if (open.Length != 0)
            Sim.Report(KernelLog.Warning("srcu-cleanup-active", "WARNING: kernel/rcu/srcutree.c: cleanup_srcu_struct: WARN_ON(srcu_readers_active(ssp))",
                ssp.Name, $"{ssp.Name} is freed while {open.Length} task(s) are inside a read section"));
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
