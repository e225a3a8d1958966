using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;

namespace Lockstep.Models.mm;

/// <summary>enum mmu_notifier_event (KERNEL-FACTS §1.1).</summary>
public enum mmu_notifier_event { MMU_NOTIFY_UNMAP, MMU_NOTIFY_CLEAR, MMU_NOTIFY_PROTECTION_VMA, MMU_NOTIFY_PROTECTION_PAGE, MMU_NOTIFY_SOFT_DIRTY, MMU_NOTIFY_RELEASE, MMU_NOTIFY_MIGRATE, MMU_NOTIFY_EXCLUSIVE }

/// <summary>struct mmu_notifier_range (§1.1).</summary>
public sealed class mmu_notifier_range
{
    public const uint MMU_NOTIFIER_RANGE_BLOCKABLE = 1;

    public mm_struct mm = null!;
    public ulong start, end;
    public uint flags;
    public mmu_notifier_event @event;

    public static mmu_notifier_range mmu_notifier_range_init(mmu_notifier_event @event, uint flags, mm_struct mm, ulong start, ulong end)
        => new() { @event = @event, flags = flags, mm = mm, start = start, end = end };

    public bool mmu_notifier_range_blockable() => (flags & MMU_NOTIFIER_RANGE_BLOCKABLE) != 0;
}

/// <summary>
/// struct mmu_notifier_ops (§1.2). Every callback is optional: a subscriber overrides what it implements and
/// says so in <see cref="Implements"/> (the core tests "ops->x != NULL").
/// </summary>
public abstract class mmu_notifier_ops
{
    [Flags]
    public enum Op { release = 1, clear_flush_young = 2, clear_young = 4, test_young = 8, invalidate_range_start = 16, invalidate_range_end = 32, arch_invalidate_secondary_tlbs = 64, oom_enter = 128, after_oom_unregister = 256 }

    public abstract Op Implements { get; }

    public bool Has(Op op) => (Implements & op) != 0;

    public virtual SimTask release(mmu_notifier subscription, mm_struct mm) => SimTask.CompletedTask;
    public virtual SimTask<int> clear_flush_young(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => Zero();
    public virtual SimTask<int> clear_young(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => Zero();
    public virtual SimTask<int> test_young(mmu_notifier subscription, mm_struct mm, ulong address) => Zero();
    public virtual SimTask<int> invalidate_range_start(mmu_notifier subscription, mmu_notifier_range range) => Zero();
    public virtual SimTask invalidate_range_end(mmu_notifier subscription, mmu_notifier_range range) => SimTask.CompletedTask;
    public virtual SimTask arch_invalidate_secondary_tlbs(mmu_notifier subscription, mm_struct mm, ulong start, ulong end) => SimTask.CompletedTask;

    /// <summary>The oom_enter op of the 2026 proposals (not in mainline).</summary>
    public virtual SimTask oom_enter(mmu_notifier subscription, mm_struct mm) => SimTask.CompletedTask;

    /// <summary>The after_oom_unregister op of the v2 proposal (not in mainline).</summary>
    public virtual SimTask after_oom_unregister(mmu_notifier subscription, mm_struct mm) => SimTask.CompletedTask;

    private static SimTask<int> Zero() => SimTask<int>.FromValue(0);
}

/// <summary>struct mmu_notifier (§1.2).</summary>
public sealed class mmu_notifier
{
    public mmu_notifier(mmu_notifier_ops ops) => this.ops = ops;

    public readonly mmu_notifier_ops ops;

    /// <summary>The structure that embeds this one (container_of).</summary>
    public object? container;
    public mm_struct? mm;
    public int users;

    /// <summary>!hlist_unhashed(&amp;mn-&gt;hlist).</summary>
    public bool hlist_hashed;

    /// <summary>Set once the structure is freed (S7: a callback must never run after that).</summary>
    public bool freed;
}

/// <summary>struct mmu_notifier_subscriptions (§1.3); the list is an RCU-style snapshot so walkers are safe against removal.</summary>
public sealed class mmu_notifier_subscriptions
{
    public mmu_notifier_subscriptions(Kernel.Kernel kernel) => @lock = new spinlock_t(kernel, "&subscriptions->lock");

    public readonly Shared<ImmutableList<mmu_notifier>> list = new("subscriptions->list", ImmutableList<mmu_notifier>.Empty);
    public readonly spinlock_t @lock;
}

/// <summary>
/// The code of mm/ that the model runs (KERNEL-FACTS §1, §2), one instance per execution. Split like the tree:
/// this file is mm/mmu_notifier.c; OomKill.cs is mm/oom_kill.c; Mmap.cs is mm/mmap.c and mm/memory.c.
/// Proposals that patch mm/ derive from it and override the functions their patch changes.
/// </summary>
public partial class Mm
{
    public const int EAGAIN = 11;

    public Mm(Kernel.Kernel kernel)
    {
        this.kernel = kernel;
        srcu = new srcu_struct(kernel, "srcu");
        __mmu_notifier_invalidate_range_start_map = new LockdepMap(kernel.Lockdep.Class("mmu_notifier_invalidate_range_start", WaitType.Inv));
        oom_lock = new mutex(kernel, "oom_lock");
        oom_reaper_list = new Shared<ImmutableQueue<mm_struct>>("oom_reaper_list", ImmutableQueue<mm_struct>.Empty);
    }

    public readonly Kernel.Kernel kernel;

    /// <summary>DEFINE_STATIC_SRCU(srcu): one domain for every mm (§1.4).</summary>
    public readonly srcu_struct srcu;

    public readonly LockdepMap __mmu_notifier_invalidate_range_start_map;

    /// <summary>S5 bookkeeping: starts that succeeded and still wait for their end, per subscriber and range.</summary>
    private readonly Dictionary<(mmu_notifier, ulong, ulong), int> _openRanges = new();

    // ---- registration (§1.5) ----

    public async SimTask<int> mmu_notifier_register(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await down_write(mm.mmap_lock);
        var ret = await __mmu_notifier_register(subscription, mm);
        await up_write(mm.mmap_lock);
        return ret;
    }

    public async SimTask<int> __mmu_notifier_register(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        mm.notifier_subscriptions ??= new mmu_notifier_subscriptions(kernel);
        var subscriptions = mm.notifier_subscriptions;
        await mmgrab(mm);
        subscription.mm = mm;
        subscription.users = 1;
        await spin_lock(subscriptions.@lock);
        await subscriptions.list.Update(l => l.Insert(0, subscription));   // hlist_add_head_rcu
        subscription.hlist_hashed = true;
        await spin_unlock(subscriptions.@lock);
        return 0;
    }

    /// <summary>§1.5: release (if still hooked), unhook, synchronize_srcu, mmdrop.</summary>
    public virtual async SimTask mmu_notifier_unregister(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        if (subscription.hlist_hashed)
        {
            var id = await srcu_read_lock(srcu);
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
            await srcu_read_unlock(srcu, id);
            await spin_lock(mm.notifier_subscriptions!.@lock);
            await mm.notifier_subscriptions.list.Update(l => l.Remove(subscription));   // hlist_del_init_rcu
            subscription.hlist_hashed = false;
            await spin_unlock(mm.notifier_subscriptions.@lock);
        }
        await synchronize_srcu(srcu);
        await mmdrop(mm);
    }

    // ---- release at teardown (§1.6) ----

    public async SimTask mmu_notifier_release(mm_struct mm)
    {
        if (mm.mm_has_notifiers()) await __mmu_notifier_release(mm);
    }

    public async SimTask __mmu_notifier_release(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await mn_hlist_release(mm.notifier_subscriptions!, mm);
    }

    private async SimTask mn_hlist_release(mmu_notifier_subscriptions subscriptions, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await subscriptions.list.Read())
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
        await spin_lock(subscriptions.@lock);
        var all = await subscriptions.list.Update(static _ => ImmutableList<mmu_notifier>.Empty);
        foreach (var subscription in all) subscription.hlist_hashed = false;
        await spin_unlock(subscriptions.@lock);
        await srcu_read_unlock(srcu, id);
        await synchronize_srcu(srcu);
    }

    // ---- invalidate start (§1.7) ----

    public async SimTask mmu_notifier_invalidate_range_start(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (range.mm.mm_has_notifiers())
        {
            range.flags |= mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE;
            await __mmu_notifier_invalidate_range_start(range);
        }
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
    }

    public async SimTask<int> mmu_notifier_invalidate_range_start_nonblock(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var ret = 0;
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (range.mm.mm_has_notifiers())
        {
            range.flags &= ~mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE;
            ret = await __mmu_notifier_invalidate_range_start(range);
        }
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
        return ret;
    }

    public async SimTask<int> __mmu_notifier_invalidate_range_start(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = range.mm.notifier_subscriptions!;
        if (!(await subscriptions.list.Read()).IsEmpty)
            return await mn_hlist_invalidate_range_start(subscriptions, range);
        return 0;
    }

    private async SimTask<int> mn_hlist_invalidate_range_start(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var ret = 0;
        var id = await srcu_read_lock(srcu);
        var list = await subscriptions.list.Read();
        foreach (var subscription in list)
        {
            if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_start)) continue;
            if (!range.mmu_notifier_range_blockable()) non_block_start();
            var _ret = await Call(subscription, s => s.ops.invalidate_range_start(s, range));
            if (!range.mmu_notifier_range_blockable()) non_block_end();
            if (_ret != 0)
            {
                Sim.Note($"{subscription.ops.GetType().Name} callback failed with {_ret} in {(range.mmu_notifier_range_blockable() ? "" : "non-")}blockable context.");
                if (range.mmu_notifier_range_blockable() || _ret != -EAGAIN)
                    Sim.Report(KernelLog.Warning("S5", "start-failed-blockable", $"WARNING: invalidate_range_start failed with {_ret} in a blockable range", "blockable"));
                if (subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end))
                    Sim.Report(KernelLog.Warning("S5", "failing-start-has-end",
                        "WARNING: a notifier that fails invalidate_range_start implements invalidate_range_end",
                        subscription.ops.GetType().Name,
                        $"{subscription.ops.GetType().Name}: invalidate_range_start returned {_ret} but ops has invalidate_range_end (mmu_notifier.h contract)"));
                ret = _ret;
            }
            else OpenRange(subscription, range);
        }
        if (ret != 0)
        {
            // Compensating ends for every subscriber with an end, not wrapped in non_block (§1.7 step 3).
            foreach (var subscription in list)
                if (subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end))
                {
                    CloseRange(subscription, range, compensating: true);
                    await Call(subscription, s => s.ops.invalidate_range_end(s, range));
                }
        }
        await srcu_read_unlock(srcu, id);
        return ret;
    }

    // ---- invalidate end (§1.8) ----

    public async SimTask mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        if (range.mmu_notifier_range_blockable()) might_sleep();
        if (range.mm.mm_has_notifiers()) await __mmu_notifier_invalidate_range_end(range);
    }

    public async SimTask __mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        await mn_hlist_invalidate_end(range.mm.notifier_subscriptions!, range);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
    }

    private async SimTask mn_hlist_invalidate_end(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await subscriptions.list.Read())
        {
            if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end)) continue;
            CloseRange(subscription, range, compensating: false);
            if (!range.mmu_notifier_range_blockable()) non_block_start();
            await Call(subscription, s => s.ops.invalidate_range_end(s, range));
            if (!range.mmu_notifier_range_blockable()) non_block_end();
        }
        await srcu_read_unlock(srcu, id);
    }

    // ---- aging (§1.2): called under the primary PTL ----

    public async SimTask<int> mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        if (!mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_clear_flush_young(mm, start, end);
    }

    public async SimTask<int> __mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await mm.notifier_subscriptions!.list.Read())
            if (subscription.ops.Has(mmu_notifier_ops.Op.clear_flush_young))
                young |= await Call(subscription, s => s.ops.clear_flush_young(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
        return young;
    }

    // ---- mm_count (kernel/fork.c) ----

    public async SimTask mmgrab(mm_struct mm) => await mm.mm_count.Update(static c => c + 1);

    public async SimTask mmdrop(mm_struct mm)
    {
        var before = await mm.mm_count.Update(static c => c - 1);
        if (before <= 0)
            Sim.Report(KernelLog.Warning("S7", "mmdrop-underflow", "BUG: mmdrop of an mm_struct whose mm_count is already 0", "mm_count"));
        else if (before == 1 && mm.notifier_subscriptions is { } subs && !subs.list.Peek.IsEmpty)
            Sim.Report(KernelLog.Warning("S7", "subscriptions-destroy", "kernel BUG at mm/mmu_notifier.c: __mmu_notifier_subscriptions_destroy with subscribers left", "destroy"));
    }

    // ---- the checks the core makes on every callback ----

    /// <summary>Invokes a subscriber's callback, checking S7 (the subscriber must still exist).</summary>
    protected async SimTask<T> Call<T>(mmu_notifier subscription, Func<mmu_notifier, SimTask<T>> callback)
    {
        if (subscription.freed) ReportUseAfterFree(subscription);
        return await callback(subscription);
    }

    protected async SimTask Call(mmu_notifier subscription, Func<mmu_notifier, SimTask> callback)
    {
        if (subscription.freed) ReportUseAfterFree(subscription);
        await callback(subscription);
    }

    private static void ReportUseAfterFree(mmu_notifier subscription)
        => Sim.Report(KernelLog.Warning("S7", "callback-after-free",
            $"BUG: KASAN: use-after-free: {subscription.ops.GetType().Name} callback on a freed subscription", "callback"));

    private void OpenRange(mmu_notifier subscription, mmu_notifier_range range)
    {
        if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end)) return;
        var key = (subscription, range.start, range.end);
        _openRanges[key] = _openRanges.GetValueOrDefault(key) + 1;
    }

    private void CloseRange(mmu_notifier subscription, mmu_notifier_range range, bool compensating)
    {
        var key = (subscription, range.start, range.end);
        if (_openRanges.TryGetValue(key, out var n) && n > 0)
        {
            _openRanges[key] = n - 1;
            return;
        }
        if (compensating) return;   // a failed start's compensation: a subscriber whose start failed has no end by contract
        Sim.Report(KernelLog.Warning("S5", "end-without-start",
            $"WARNING: invalidate_range_end [{range.start:x}, {range.end:x}) delivered without a successful start",
            subscription.ops.GetType().Name));
    }
}
