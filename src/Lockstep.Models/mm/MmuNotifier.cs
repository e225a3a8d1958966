using System.Collections.Immutable;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models.Checking;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Models.mm.wait_queue_head_t;

namespace Lockstep.Models.mm;

/// <summary>
/// struct mmu_notifier_subscriptions (§1.3). The list is an hlist walked under SRCU (<see cref="hlist_head"/>); the
/// itree bookkeeping is touched under <see cref="@lock"/> (<see cref="Guarded{T}"/> checks it), except the itree itself,
/// which an invalidation also walks without the lock while the tree is frozen (invalidate_seq odd).
/// </summary>
public sealed class mmu_notifier_subscriptions
{
    public mmu_notifier_subscriptions(Mm code)
    {
        @lock = code.mmu_notifier_subscriptions_lock.Init(code.kernel, "&subscriptions->lock");
        list = new hlist_head("subscriptions->list", code.lifetimes);
        has_itree = new Shared<bool>("subscriptions->has_itree");
        invalidate_seq = new Shared<ulong>("subscriptions->invalidate_seq", 2);
        active_invalidate_ranges = new Guarded<ulong>("subscriptions->active_invalidate_ranges", @lock);
        itree = new Shared<ImmutableList<interval_tree_node>>("subscriptions->itree", ImmutableList<interval_tree_node>.Empty);
        wq = new wait_queue_head_t("subscriptions->wq");
        deferred_list = new Guarded<ImmutableList<interval_tree_node>>("subscriptions->deferred_list", @lock, ImmutableList<interval_tree_node>.Empty);
    }

    public readonly hlist_head list;

    /// <summary>Set once by __mmu_notifier_register(NULL, mm) (mmap lock held for write and mm_take_all_locks).</summary>
    public readonly Shared<bool> has_itree;

    public readonly KernelLock @lock;

    /// <summary>Starts at 2; odd while an itree invalidation is "fully excluding" (the tree is frozen).</summary>
    public readonly Shared<ulong> invalidate_seq;

    /// <summary>Open start..end windows on this mm (itree side), under lock.</summary>
    public readonly Guarded<ulong> active_invalidate_ranges;

    /// <summary>The interval tree, in interval_tree_iter order (by start): changed under lock while not frozen.</summary>
    public readonly Shared<ImmutableList<interval_tree_node>> itree;

    /// <summary>Waiters of mmu_interval_read_begin and mmu_interval_notifier_remove.</summary>
    public readonly wait_queue_head_t wq;

    /// <summary>Inserts and removals requested while the tree was frozen, applied by the last mn_itree_inv_end; under lock.</summary>
    public readonly Guarded<ImmutableList<interval_tree_node>> deferred_list;
}

/// <summary>
/// The code of mm/ that the model runs (KERNEL-FACTS §1, §2), one instance per execution. Split like the tree:
/// this file is mm/mmu_notifier.c; OomKill.cs is mm/oom_kill.c; Mmap.cs is mm/mmap.c, mm/memory.c, mm/rmap.c.
/// Proposals that patch mm/ derive from it and override the functions their patch changes.
/// </summary>
public partial class Mm
{
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EINVAL = 22;
    public const int EOVERFLOW = 75;

    public Mm(Kernel.Kernel kernel)
    {
        this.kernel = kernel;
        srcu = new srcu_struct(kernel, "srcu");
        __mmu_notifier_invalidate_range_start_map = new LockdepMap(kernel.Lockdep.Class("mmu_notifier_invalidate_range_start", WaitType.Inv));
        oom_lock = oom_lock_type.Init(kernel, "oom_lock");
        oom_reaper_list = new Shared<ImmutableQueue<mm_struct>>("oom_reaper_list", ImmutableQueue<mm_struct>.Empty);
    }

    public readonly Kernel.Kernel kernel;

    // ---- the checker's oracles beside mm/'s structs (src/Lockstep.Models/Checking), called at mm/'s seams ----

    /// <summary>S1: asked when a page is freed.</summary>
    public readonly StaleMappings stale_mappings = new();

    /// <summary>S5: told of every successful start and every end delivered.</summary>
    public readonly OpenRanges open_ranges = new();

    /// <summary>S7: registrations, callbacks, unregister and free, the list walks, mm_count pins.</summary>
    public readonly Lifetimes lifetimes = new();

    // ---- lock declarations of the structs mm/ initialises (include/linux/mm_types.h, rmap.h, sched.h; mm/oom_kill.c).
    // A patch that changes one overrides it.

    public virtual LockType mm_struct_mmap_lock => LockType.rw_semaphore;

    public virtual LockType anon_vma_rwsem => LockType.rw_semaphore;

    /// <summary>The split PTE lock (one per mm in the model): spinlock_t, a sleeping lock on PREEMPT_RT (§1.2, §4.1).</summary>
    public virtual LockType ptlock => LockType.spinlock_t;

    public virtual LockType mmu_notifier_subscriptions_lock => LockType.spinlock_t;

    public virtual LockType task_struct_alloc_lock => LockType.spinlock_t;

    public virtual LockType sighand_struct_siglock => LockType.spinlock_t;

    /// <summary>static DEFINE_MUTEX(oom_lock).</summary>
    public virtual LockType oom_lock_type => LockType.mutex;

    /// <summary>DEFINE_STATIC_SRCU(srcu): one domain for every mm (§1.4).</summary>
    public readonly srcu_struct srcu;

    public readonly LockdepMap __mmu_notifier_invalidate_range_start_map;

    // ---- registration (§1.5) ----

    /// <summary>mmu_notifier_register: __mmu_notifier_register under mmap_write_lock. A NULL subscription registers itree mode.</summary>
    public virtual async SimTask<int> mmu_notifier_register(mmu_notifier? subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await down_write(mm.mmap_lock);
        var ret = await __mmu_notifier_register(subscription, mm);
        await up_write(mm.mmap_lock);
        return ret;
    }

    /// <summary>§1.5 steps 1–6, the caller holding mmap_lock for write.</summary>
    public virtual async SimTask<int> __mmu_notifier_register(mmu_notifier? subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        BUG_ON(await mm.mm_users.Read() <= 0, "atomic_read(&mm->mm_users) <= 0");
        // 1. Subsystems register for arch_invalidate_secondary_tlbs() or start/end, not both.
        if (subscription != null && subscription.ops.Has(mmu_notifier_ops.Op.arch_invalidate_secondary_tlbs)
            && subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_start | mmu_notifier_ops.Op.invalidate_range_end))
        {
            Sim.Report(KernelLog.Warning("secondary-tlbs-and-start-end",
                "WARNING: __mmu_notifier_register: ops has arch_invalidate_secondary_tlbs and invalidate_range_start/end",
                subscription.ops.GetType().Name, $"{subscription.ops.GetType().Name}: registration fails with -EINVAL (WARN_ON_ONCE)"));
            return -EINVAL;
        }
        // 2. kzalloc + init: list, lock, invalidate_seq = 2, itree, wq, deferred_list (the model's allocation never fails).
        mmu_notifier_subscriptions? subscriptions = null;
        if (await mm.notifier_subscriptions.Read() == null) subscriptions = new mmu_notifier_subscriptions(this);
        // 3. Exclude every rmap walker (and, with them, every other notifier method).
        var ret = await mm_take_all_locks(mm);
        if (ret != 0) return ret;   // out_clean: kfree(subscriptions)
        // 4. smp_store_release(&mm->notifier_subscriptions, subscriptions)
        if (subscriptions != null) await mm.notifier_subscriptions.Write(subscriptions);
        var subs = mm.subscriptions();
        // 5.
        if (subscription != null)
        {
            await mmgrab(mm);   // pairs with the mmdrop in mmu_notifier_unregister / mmu_notifier_free_rcu
            await lifetimes.registered(subscription, mm);
            await subscription.mm.Write(mm);
            await subscription.users.Write(1);
            await spin_lock(subs.@lock);
            await subs.list.hlist_add_head_rcu(subscription);
            await spin_unlock(subs.@lock);
        }
        else await subs.has_itree.Write(true);
        // 6.
        await mm_drop_all_locks(mm);
        BUG_ON(await mm.mm_users.Read() <= 0, "atomic_read(&mm->mm_users) <= 0");
        return 0;
    }

    /// <summary>§1.5: release (if still hooked), unhook, synchronize_srcu, mmdrop.</summary>
    public virtual async SimTask mmu_notifier_unregister(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        BUG_ON(await mm.mm_count.Read() <= 0, "atomic_read(&mm->mm_count) <= 0");
        if (!await hlist_head.hlist_unhashed(subscription))
        {
            // SRCU here forces the release to finish before the mm's pages are freed by a concurrent exit_mmap.
            var id = await srcu_read_lock(srcu);
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
            await srcu_read_unlock(srcu, id);
            var subscriptions = mm.subscriptions();
            await spin_lock(subscriptions.@lock);
            // Can not use list_del_rcu() since __mmu_notifier_release can delete it before we hold the lock.
            await subscriptions.list.hlist_del_init_rcu(subscription);
            await spin_unlock(subscriptions.@lock);
        }
        // Wait for every callback that may still be running, including a release run by exit_mmap.
        await synchronize_srcu(srcu);
        await lifetimes.unregister_returns(subscription);
        BUG_ON(await mm.mm_count.Read() <= 0, "atomic_read(&mm->mm_count) <= 0");
        await mmdrop(mm);
    }

    // ---- the get/put API (§1.5) ----

    /// <summary>mmu_notifier_get: mmu_notifier_get_locked under mmap_write_lock.</summary>
    public virtual async SimTask<mmu_notifier> mmu_notifier_get(mmu_notifier_ops ops, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        await down_write(mm.mmap_lock);
        var subscription = await mmu_notifier_get_locked(ops, mm);
        await up_write(mm.mmap_lock);
        return subscription;
    }

    /// <summary>Returns the mm's subscription with these ops (one more user), else a new one from alloc_notifier; or ERR_PTR.</summary>
    public virtual async SimTask<mmu_notifier> mmu_notifier_get_locked(mmu_notifier_ops ops, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(mm.mmap_lock);   // mmap_assert_write_locked(mm)
        if (await mm.notifier_subscriptions.Read() != null)
        {
            var found = await find_get_mmu_notifier(mm, ops);
            if (found != null) return found;
        }
        var subscription = await ops.alloc_notifier(mm);
        if (mmu_notifier.IS_ERR(subscription)) return subscription;
        // subscription->ops = ops: the model's alloc_notifier builds the subscription with its ops.
        var ret = await __mmu_notifier_register(subscription, mm);
        if (ret != 0)
        {
            await subscription.ops.free_notifier(subscription);   // out_free
            return mmu_notifier.ERR_PTR(ret);
        }
        return subscription;
    }

    protected virtual async SimTask<mmu_notifier?> find_get_mmu_notifier(mm_struct mm, mmu_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = mm.subscriptions();
        await spin_lock(subscriptions.@lock);
        await foreach (var subscription in subscriptions.list)
        {
            if (!ReferenceEquals(subscription.ops, ops)) continue;
            var result = subscription;
            if (await subscription.users.Update(static u => u != int.MaxValue ? u + 1 : u) == int.MaxValue)   // likely(users != UINT_MAX)
                result = mmu_notifier.ERR_PTR(-EOVERFLOW);
            await spin_unlock(subscriptions.@lock);
            return result;
        }
        await spin_unlock(subscriptions.@lock);
        return null;
    }

    /// <summary>The SRCU callback of the last put: free_notifier, then the mmdrop pairing the registration's mmgrab.</summary>
    protected virtual async SimTask mmu_notifier_free_rcu(mmu_notifier subscription)
    {
        using var fn = KernelFunction.Enter();
        var mm = (await subscription.mm.Read())!;
        await subscription.ops.free_notifier(subscription);
        await lifetimes.freed(subscription);   // the struct mmu_notifier is embedded in what free_notifier freed
        await mmdrop(mm);   // pairs with the mmgrab in __mmu_notifier_register
    }

    /// <summary>
    /// mmu_notifier_put: drop a user; the last one unhooks the subscription and frees it with call_srcu after a grace
    /// period. release is not called (the user already tore its mappings down).
    /// </summary>
    public virtual async SimTask mmu_notifier_put(mmu_notifier subscription)
    {
        using var fn = KernelFunction.Enter();
        var mm = (await subscription.mm.Read())!;
        var subscriptions = mm.subscriptions();
        await spin_lock(subscriptions.@lock);
        if (await subscription.users.Read() == 0)
        {
            Sim.Report(KernelLog.Warning("put-without-users", "WARNING: mmu_notifier_put: WARN_ON(!subscription->users)", "put"));
            await spin_unlock(subscriptions.@lock);   // out_unlock
            return;
        }
        if (await subscription.users.Update(static u => u - 1) != 1)
        {
            await spin_unlock(subscriptions.@lock);   // out_unlock
            return;
        }
        await subscriptions.list.hlist_del_init_rcu(subscription);
        await spin_unlock(subscriptions.@lock);
        await call_srcu(srcu, () => mmu_notifier_free_rcu(subscription));
    }

    /// <summary>mmu_notifier_synchronize: synchronize_srcu(&amp;srcu) in the v6.x copy (older trees: srcu_barrier), §1.5.</summary>
    public virtual async SimTask mmu_notifier_synchronize()
    {
        using var fn = KernelFunction.Enter();
        await synchronize_srcu(srcu);
    }

    // ---- release at teardown (§1.6) ----

    public virtual async SimTask mmu_notifier_release(mm_struct mm)
    {
        if (await mm.mm_has_notifiers()) await __mmu_notifier_release(mm);
    }

    public virtual async SimTask __mmu_notifier_release(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = mm.subscriptions();
        if (await subscriptions.has_itree.Read()) await mn_itree_release(subscriptions, mm);
        // Kernel: if (!hlist_empty(&subscriptions->list)). The model walks an empty list too (one more grace period,
        // nothing else), which keeps exit_mmap's scheduling points those of a KVM mm.
        await mn_hlist_release(subscriptions, mm);
    }

    protected virtual async SimTask mn_hlist_release(mmu_notifier_subscriptions subscriptions, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in subscriptions.list)
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
        await spin_lock(subscriptions.@lock);
        // We arrived before mmu_notifier_unregister, which will then only wait for ->release and return.
        while (await subscriptions.list.first.Read() is { } first)
            await subscriptions.list.hlist_del_init_rcu(first);
        await spin_unlock(subscriptions.@lock);
        await srcu_read_unlock(srcu, id);
        // exit_mmap must not free pages while a release called from a concurrent unregister still runs.
        await synchronize_srcu(srcu);
    }

    /// <summary>§1.6: one blockable MMU_NOTIFY_RELEASE invalidation of [0, ULONG_MAX) over the itree; a false return is a WARN.</summary>
    protected virtual async SimTask mn_itree_release(mmu_notifier_subscriptions subscriptions, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var range = new mmu_notifier_range
        {
            flags = mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE, @event = mmu_notifier_event.MMU_NOTIFY_RELEASE,
            mm = mm, start = 0, end = ulong.MaxValue,
        };
        var (interval_sub, cur_seq) = await mn_itree_inv_start_range(subscriptions, range);
        for (; interval_sub != null; interval_sub = await mn_itree_inv_next(subscriptions, interval_sub, range))
        {
            var ret = await CallInterval(interval_sub, range, cur_seq);
            if (!ret)
                Sim.Report(KernelLog.Warning("itree-invalidate-failed-blockable",
                    "WARNING: mn_itree_release: WARN_ON(!ret): an interval notifier failed a blockable invalidate", interval_sub.ops.GetType().Name));
        }
        await mn_itree_inv_end(subscriptions);
    }

    // ---- interval notifiers: the invalidation side (§1.7, §1.8) ----

    /// <summary>Under lock: one more active range; freeze the tree (seq odd) if any interval overlaps; returns the first one and the seq.</summary>
    protected virtual async SimTask<(interval_tree_node? first, ulong seq)> mn_itree_inv_start_range(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(subscriptions.@lock);
        subscriptions.active_invalidate_ranges.Value++;
        var node = interval_tree_iter_first(await subscriptions.itree.Read(), range.start, range.end - 1);
        if (node != null) await subscriptions.invalidate_seq.Update(static s => s | 1);
        var seq = await subscriptions.invalidate_seq.Read();
        await spin_unlock(subscriptions.@lock);
        return (node, seq);
    }

    /// <summary>The next overlapping interval: the tree is frozen while an invalidation walks it, so no lock is needed.</summary>
    private static async SimTask<interval_tree_node?> mn_itree_inv_next(mmu_notifier_subscriptions subscriptions, interval_tree_node node, mmu_notifier_range range)
    {
        var itree = await subscriptions.itree.Read();
        for (var j = itree.IndexOf(node) + 1; j < itree.Count; j++)
            if (Overlaps(itree[j], range.start, range.end - 1)) return itree[j];
        return null;
    }

    /// <summary>Under lock: one range fewer; the last one of a frozen tree thaws it (seq even), applies the deferred list, wakes wq.</summary>
    protected virtual async SimTask mn_itree_inv_end(mmu_notifier_subscriptions subscriptions)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(subscriptions.@lock);
        if (subscriptions.active_invalidate_ranges.Value == 0)
            Sim.Report(KernelLog.Warning("itree-ranges-underflow", "WARNING: mn_itree_inv_end with active_invalidate_ranges == 0", "active_invalidate_ranges"));
        if (--subscriptions.active_invalidate_ranges.Value != 0 || !await mn_itree_is_invalidating(subscriptions))
        {
            await spin_unlock(subscriptions.@lock);
            return;
        }
        await subscriptions.invalidate_seq.Update(static s => s + 1);   // make invalidate_seq even
        // The deferred mechanism, like rtnl_unlock(): adds and removes queued while frozen are applied now.
        foreach (var node in subscriptions.deferred_list.Value)
        {
            if (!await RB_linked(subscriptions, node.sub)) await interval_tree_insert(node, subscriptions);
            else await interval_tree_remove(node.sub, subscriptions);
        }
        subscriptions.deferred_list.Value = ImmutableList<interval_tree_node>.Empty;
        await spin_unlock(subscriptions.@lock);
        await wake_up_all(subscriptions.wq);
    }

    /// <summary>
    /// Calls every overlapping interval notifier. A false return in a blockable range is a WARN and the walk goes on;
    /// in a non-blockable one it ends the invalidation itself (mn_itree_inv_end) so the caller must not call end, and
    /// returns -EAGAIN. The callbacks are not wrapped in non_block_start/end (only the hlist ones are).
    /// </summary>
    protected virtual async SimTask<int> mn_itree_invalidate(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var (interval_sub, cur_seq) = await mn_itree_inv_start_range(subscriptions, range);
        for (; interval_sub != null; interval_sub = await mn_itree_inv_next(subscriptions, interval_sub, range))
        {
            var ret = await CallInterval(interval_sub, range, cur_seq);
            if (!ret)
            {
                if (range.mmu_notifier_range_blockable())
                {
                    Sim.Report(KernelLog.Warning("itree-invalidate-failed-blockable",
                        "WARNING: mn_itree_invalidate: WARN_ON(mmu_notifier_range_blockable(range)): an interval notifier failed a blockable invalidate",
                        interval_sub.ops.GetType().Name));
                    continue;
                }
                goto out_would_block;
            }
        }
        return 0;

    out_would_block:
        // On -EAGAIN the non-blocking caller is not allowed to call invalidate_range_end().
        await mn_itree_inv_end(subscriptions);
        return -EAGAIN;
    }

    protected virtual async SimTask<bool> mn_itree_is_invalidating(mmu_notifier_subscriptions subscriptions)
        => (await subscriptions.invalidate_seq.Read() & 1) != 0;

    private static bool Overlaps(interval_tree_node n, ulong start, ulong last) => n.start <= last && start <= n.last;

    private static interval_tree_node? interval_tree_iter_first(ImmutableList<interval_tree_node> itree, ulong start, ulong last)
        => itree.FirstOrDefault(n => Overlaps(n, start, last));

    /// <summary>!RB_EMPTY_NODE(&amp;interval_sub-&gt;interval_tree.rb): linked in the itree (under subscriptions->lock).</summary>
    protected static async SimTask<bool> RB_linked(mmu_notifier_subscriptions subscriptions, mmu_interval_notifier interval_sub)
        => (await subscriptions.itree.Read()).Any(n => n.sub == interval_sub);

    private static async SimTask interval_tree_insert(interval_tree_node node, mmu_notifier_subscriptions subscriptions)
        => await subscriptions.itree.Update(itree =>
        {
            var i = itree.FindIndex(n => n.start > node.start);
            return itree.Insert(i < 0 ? itree.Count : i, node);
        });

    /// <summary>interval_tree_remove, then RB_CLEAR_NODE.</summary>
    private static async SimTask interval_tree_remove(mmu_interval_notifier interval_sub, mmu_notifier_subscriptions subscriptions)
        => await subscriptions.itree.Update(itree => itree.RemoveAll(n => n.sub == interval_sub));

    // ---- interval notifiers: the driver side (§1.9) ----

    /// <summary>
    /// mmu_interval_notifier_insert: registers itree mode on first use (mmu_notifier_register(NULL, mm)), then inserts.
    /// The caller holds an mm_users reference (mmget).
    /// </summary>
    public virtual async SimTask<int> mmu_interval_notifier_insert(mmu_interval_notifier interval_sub, mm_struct mm, ulong start, ulong length,
        mmu_interval_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = await mm.notifier_subscriptions.Read();   // smp_load_acquire
        if (subscriptions == null || !await subscriptions.has_itree.Read())
        {
            var ret = await mmu_notifier_register(null, mm);
            if (ret != 0) return ret;
            subscriptions = mm.subscriptions();
        }
        return await __mmu_interval_notifier_insert(interval_sub, mm, subscriptions, start, length, ops);
    }

    /// <summary>mmu_interval_notifier_insert_locked: the same with mmap_lock already held for write.</summary>
    public virtual async SimTask<int> mmu_interval_notifier_insert_locked(mmu_interval_notifier interval_sub, mm_struct mm, ulong start, ulong length,
        mmu_interval_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(mm.mmap_lock);   // mmap_assert_write_locked(mm)
        var subscriptions = await mm.notifier_subscriptions.Read();
        if (subscriptions == null || !await subscriptions.has_itree.Read())
        {
            var ret = await __mmu_notifier_register(null, mm);
            if (ret != 0) return ret;
            subscriptions = mm.subscriptions();
        }
        return await __mmu_interval_notifier_insert(interval_sub, mm, subscriptions, start, length, ops);
    }

    /// <summary>
    /// §1.9 insert: while invalidations run the new interval must be assumed included — deferred if the tree is frozen,
    /// else the tree is frozen now — and its seq is the current (odd) global seq; when idle its seq is global - 1.
    /// </summary>
    protected virtual async SimTask<int> __mmu_interval_notifier_insert(mmu_interval_notifier interval_sub, mm_struct mm,
        mmu_notifier_subscriptions subscriptions, ulong start, ulong length, mmu_interval_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        await interval_sub.mm.Write(mm);
        // ops, RB_CLEAR_NODE, interval_tree.start and .last: the node the tree will hold.
        if (length == 0 || start + (length - 1) < start) return -EOVERFLOW;   // check_add_overflow
        var node = new interval_tree_node(start, start + (length - 1), interval_sub, ops);
        if (await mm.mm_users.Read() <= 0)
        {
            Sim.Report(KernelLog.Warning("insert-without-mmget", "WARNING: __mmu_interval_notifier_insert: WARN_ON(atomic_read(&mm->mm_users) <= 0)", "insert"));
            return -EINVAL;
        }
        await mmgrab(mm);   // pairs with the mmdrop in mmu_interval_notifier_remove
        await lifetimes.interval_inserted(interval_sub, mm);
        await spin_lock(subscriptions.@lock);
        if (subscriptions.active_invalidate_ranges.Value != 0)
        {
            if (await mn_itree_is_invalidating(subscriptions))
                subscriptions.deferred_list.Value = subscriptions.deferred_list.Value.Insert(0, node);   // hlist_add_head(&deferred_item)
            else
            {
                await subscriptions.invalidate_seq.Update(static s => s | 1);
                await interval_tree_insert(node, subscriptions);
            }
            await interval_sub.invalidate_seq.Write(await subscriptions.invalidate_seq.Read());
        }
        else
        {
            if (await mn_itree_is_invalidating(subscriptions))
                Sim.Report(KernelLog.Warning("itree-frozen-while-idle", "WARNING: __mmu_interval_notifier_insert: WARN_ON(mn_itree_is_invalidating)", "insert"));
            // Odd, not equal to the current seq, and the seq will not wrap to it any time soon.
            await interval_sub.invalidate_seq.Write(await subscriptions.invalidate_seq.Read() - 1);
            await interval_tree_insert(node, subscriptions);
        }
        await spin_unlock(subscriptions.@lock);
        return 0;
    }

    /// <summary>
    /// mmu_interval_notifier_remove (sleeps): removed directly when the tree is not frozen; otherwise the removal is
    /// deferred (or a pending deferred insert cancelled) and it waits until the invalidation in progress has ended.
    /// After it returns the invalidate callback is neither running nor called again.
    /// </summary>
    public virtual async SimTask mmu_interval_notifier_remove(mmu_interval_notifier interval_sub)
    {
        using var fn = KernelFunction.Enter();
        var mm = (await interval_sub.mm.Read())!;
        var subscriptions = mm.subscriptions();
        ulong seq = 0;
        might_sleep();
        await spin_lock(subscriptions.@lock);
        if (await mn_itree_is_invalidating(subscriptions))
        {
            // remove after an insert that was deferred and not yet processed: cancel the insert
            if (!await RB_linked(subscriptions, interval_sub))
                subscriptions.deferred_list.Value = subscriptions.deferred_list.Value.RemoveAll(n => n.sub == interval_sub);   // hlist_del
            else
            {
                var node = (await subscriptions.itree.Read()).First(n => n.sub == interval_sub);
                subscriptions.deferred_list.Value = subscriptions.deferred_list.Value.Insert(0, node);
                seq = await subscriptions.invalidate_seq.Read();
            }
        }
        else
        {
            if (!await RB_linked(subscriptions, interval_sub))
                Sim.Report(KernelLog.Warning("remove-not-inserted", "WARNING: mmu_interval_notifier_remove: WARN_ON(RB_EMPTY_NODE(&interval_sub->interval_tree.rb))", "remove"));
            await interval_tree_remove(interval_sub, subscriptions);
        }
        await spin_unlock(subscriptions.@lock);
        // The possible sleep requires the caller not to hold any lock an invalidation callback takes.
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
        if (seq != 0)
            await wait_event(subscriptions.wq, async () => await subscriptions.invalidate_seq.Read() != seq);
        await lifetimes.interval_removed(interval_sub);
        await mmdrop(mm);   // pairs with the mmgrab in mmu_interval_notifier_insert
    }

    /// <summary>
    /// mmu_interval_read_begin: the sub's seq under lock, equal to the global one means an invalidation covering it is
    /// running; a momentary acquire of the pseudo-lock; if colliding, wait until the global seq moves. Can sleep.
    /// </summary>
    public virtual async SimTask<ulong> mmu_interval_read_begin(mmu_interval_notifier interval_sub)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = (await interval_sub.mm.Read())!.subscriptions();
        await spin_lock(subscriptions.@lock);
        var seq = await interval_sub.invalidate_seq.Read();   // pairs with the WRITE_ONCE in mmu_interval_set_seq
        var is_invalidating = seq == await subscriptions.invalidate_seq.Read();
        await spin_unlock(subscriptions.@lock);
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
        if (is_invalidating)
            await wait_event(subscriptions.wq, async () => await subscriptions.invalidate_seq.Read() != seq);
        // mmu_interval_read_retry() can already be true here; no loop, so the caller can bound its retries.
        return seq;
    }

    /// <summary>mmu_interval_read_retry: under the driver's lock, true if an invalidation collided since read_begin.</summary>
    public static async SimTask<bool> mmu_interval_read_retry(mmu_interval_notifier interval_sub, ulong seq)
        => await interval_sub.invalidate_seq.Read() != seq;

    /// <summary>mmu_interval_check_retry: the same as a lockless hint (READ_ONCE).</summary>
    public static async SimTask<bool> mmu_interval_check_retry(mmu_interval_notifier interval_sub, ulong seq)
        => await interval_sub.invalidate_seq.Read() != seq;

    /// <summary>mmu_interval_set_seq: called by ops->invalidate under the driver's lock with the cur_seq it was given.</summary>
    public static async SimTask mmu_interval_set_seq(mmu_interval_notifier interval_sub, ulong cur_seq)
        => await interval_sub.invalidate_seq.Write(cur_seq);   // WRITE_ONCE

    // ---- invalidate start (§1.7) ----

    public virtual async SimTask mmu_notifier_invalidate_range_start(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        might_sleep();
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (await range.mm.mm_has_notifiers())
        {
            range.flags |= mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE;
            await __mmu_notifier_invalidate_range_start(range);
        }
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
    }

    public virtual async SimTask<int> mmu_notifier_invalidate_range_start_nonblock(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var ret = 0;
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (await range.mm.mm_has_notifiers())
        {
            range.flags &= ~mmu_notifier_range.MMU_NOTIFIER_RANGE_BLOCKABLE;
            ret = await __mmu_notifier_invalidate_range_start(range);
        }
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
        return ret;
    }

    /// <summary>
    /// §1.7: the itree first — if it fails, return at once (classic subscribers are not called at all); then the hlist.
    /// [analysis] If the itree succeeds and a classic subscriber fails, nobody calls mn_itree_inv_end: the model keeps
    /// that asymmetry (active_invalidate_ranges stays up).
    /// </summary>
    public virtual async SimTask<int> __mmu_notifier_invalidate_range_start(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = range.mm.subscriptions();
        if (await subscriptions.has_itree.Read())
        {
            var ret = await mn_itree_invalidate(subscriptions, range);
            if (ret != 0) return ret;
        }
        if (!await subscriptions.list.hlist_empty())
            return await mn_hlist_invalidate_range_start(subscriptions, range);
        return 0;
    }

    protected virtual async SimTask<int> mn_hlist_invalidate_range_start(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var ret = 0;
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in subscriptions.list)
        {
            if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_start)) continue;
            if (!range.mmu_notifier_range_blockable()) non_block_start();
            var _ret = await Call(subscription, s => s.ops.invalidate_range_start(s, range));
            if (!range.mmu_notifier_range_blockable()) non_block_end();
            if (_ret != 0)
            {
                Sim.Note($"{subscription.ops.GetType().Name} callback failed with {_ret} in {(range.mmu_notifier_range_blockable() ? "" : "non-")}blockable context.");
                if (range.mmu_notifier_range_blockable() || _ret != -EAGAIN)
                    Sim.Report(KernelLog.Warning("start-failed-blockable", $"WARNING: invalidate_range_start failed with {_ret} in a blockable range", "blockable"));
                if (subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end))
                    Sim.Report(KernelLog.Warning("failing-start-has-end",
                        "WARNING: a notifier that fails invalidate_range_start implements invalidate_range_end",
                        subscription.ops.GetType().Name,
                        $"{subscription.ops.GetType().Name}: invalidate_range_start returned {_ret} but ops has invalidate_range_end (mmu_notifier.h contract)"));
                ret = _ret;
            }
            else await open_ranges.opened(subscription, range);
        }
        if (ret != 0)
        {
            // Compensating ends for every subscriber with an end, not wrapped in non_block (§1.7 step 3).
            await foreach (var subscription in subscriptions.list)
                if (subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end))
                {
                    await open_ranges.closed(subscription, range, compensating: true);
                    await Call(subscription, s => s.ops.invalidate_range_end(s, range));
                }
        }
        await srcu_read_unlock(srcu, id);
        return ret;
    }

    // ---- invalidate end (§1.8) ----

    public virtual async SimTask mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        if (range.mmu_notifier_range_blockable()) might_sleep();
        if (await range.mm.mm_has_notifiers()) await __mmu_notifier_invalidate_range_end(range);
    }

    public virtual async SimTask __mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = range.mm.subscriptions();
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (await subscriptions.has_itree.Read()) await mn_itree_inv_end(subscriptions);
        // Kernel: if (!hlist_empty(&subscriptions->list)); walking an empty list calls nobody.
        await mn_hlist_invalidate_end(subscriptions, range);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
    }

    protected virtual async SimTask mn_hlist_invalidate_end(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in subscriptions.list)
        {
            if (!subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end)) continue;
            await open_ranges.closed(subscription, range, compensating: false);
            if (!range.mmu_notifier_range_blockable()) non_block_start();
            await Call(subscription, s => s.ops.invalidate_range_end(s, range));
            if (!range.mmu_notifier_range_blockable()) non_block_end();
        }
        await srcu_read_unlock(srcu, id);
    }

    // ---- aging (§1.2): called by rmap walkers under the primary PTL ----

    public virtual async SimTask<int> mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        if (!await mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_clear_flush_young(mm, start, end);
    }

    /// <summary>Every subscriber's clear_flush_young, results ORed.</summary>
    public virtual async SimTask<int> __mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
            if (subscription.ops.Has(mmu_notifier_ops.Op.clear_flush_young))
                young |= await Call(subscription, s => s.ops.clear_flush_young(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
        return young;
    }

    public virtual async SimTask<int> mmu_notifier_clear_young(mm_struct mm, ulong start, ulong end)
    {
        if (!await mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_clear_young(mm, start, end);
    }

    /// <summary>Like clear_flush_young, the secondary flush may be skipped; results ORed.</summary>
    public virtual async SimTask<int> __mmu_notifier_clear_young(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
            if (subscription.ops.Has(mmu_notifier_ops.Op.clear_young))
                young |= await Call(subscription, s => s.ops.clear_young(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
        return young;
    }

    public virtual async SimTask<int> mmu_notifier_test_young(mm_struct mm, ulong address)
    {
        if (!await mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_test_young(mm, address);
    }

    /// <summary>A query: stops at the first subscriber that reports young.</summary>
    public virtual async SimTask<int> __mmu_notifier_test_young(mm_struct mm, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
        {
            if (!subscription.ops.Has(mmu_notifier_ops.Op.test_young)) continue;
            young = await Call(subscription, s => s.ops.test_young(s, mm, address));
            if (young != 0) break;
        }
        await srcu_read_unlock(srcu, id);
        return young;
    }

    // ---- secondary TLBs sharing the CPU page tables (§1.2): arch code calls this under the PTL ----

    public virtual async SimTask mmu_notifier_arch_invalidate_secondary_tlbs(mm_struct mm, ulong start, ulong end)
    {
        if (await mm.mm_has_notifiers()) await __mmu_notifier_arch_invalidate_secondary_tlbs(mm, start, end);
    }

    public virtual async SimTask __mmu_notifier_arch_invalidate_secondary_tlbs(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        await foreach (var subscription in mm.subscriptions().list)
            if (subscription.ops.Has(mmu_notifier_ops.Op.arch_invalidate_secondary_tlbs))
                await Call(subscription, s => s.ops.arch_invalidate_secondary_tlbs(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
    }

    // ---- the core's calls into subscribers: each is a seam of the S7 oracle ----

    /// <summary>Invokes a subscriber's callback; the S7 oracle checks that the subscriber still exists and is registered.</summary>
    protected async SimTask<T> Call<T>(mmu_notifier subscription, Func<mmu_notifier, SimTask<T>> callback)
    {
        await lifetimes.callback_entry(subscription);
        var r = await callback(subscription);
        await lifetimes.callback_exit(subscription);
        return r;
    }

    protected async SimTask Call(mmu_notifier subscription, Func<mmu_notifier, SimTask> callback)
    {
        await lifetimes.callback_entry(subscription);
        await callback(subscription);
        await lifetimes.callback_exit(subscription);
    }

    /// <summary>interval_sub->ops->invalidate(interval_sub, range, cur_seq), with the S7 oracle's check that it was not removed.</summary>
    private async SimTask<bool> CallInterval(interval_tree_node node, mmu_notifier_range range, ulong cur_seq)
        => await lifetimes.interval_callback(node, () => node.ops.invalidate(node.sub, range, cur_seq));

    /// <summary>BUG_ON(condition): the condition is read with scheduling points, the report is the kernel's.</summary>
    protected static void BUG_ON(bool condition, string what)
    {
        if (condition)
            Sim.Report(KernelLog.Warning("bug-on", $"kernel BUG at mm/mmu_notifier.c: BUG_ON({what})", what));
    }
}
