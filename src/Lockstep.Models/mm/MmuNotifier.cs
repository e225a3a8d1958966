using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Reflection;
using Lockstep.Engine;
using Lockstep.Kernel;
using static Lockstep.Kernel.Api;
using static Lockstep.Kernel.Srcu;
using static Lockstep.Models.mm.wait_queue_head_t;

namespace Lockstep.Models.mm;

/// <summary>
/// struct mmu_notifier_subscriptions (§1.3); the list is an RCU-style snapshot so walkers are safe against removal.
/// The itree bookkeeping (active_invalidate_ranges, itree, deferred_list) is only touched under <see cref="@lock"/>, or,
/// for the itree walk of an invalidation, while the tree is frozen (invalidate_seq odd), so plain fields suffice.
/// </summary>
public sealed class mmu_notifier_subscriptions
{
    public mmu_notifier_subscriptions(Mm code)
    {
        @lock = code.mmu_notifier_subscriptions_lock.Init(code.kernel, "&subscriptions->lock");
        invalidate_seq = new Shared<ulong>("subscriptions->invalidate_seq", 2);
        wq = new wait_queue_head_t("subscriptions->wq");
    }

    public readonly Shared<ImmutableList<mmu_notifier>> list = new("subscriptions->list", ImmutableList<mmu_notifier>.Empty);

    /// <summary>
    /// Set once by __mmu_notifier_register(NULL, mm) with the mmap lock held for write and mm_take_all_locks, read
    /// unlocked by invalidations (which hold the mmap lock or an rmap lock): a plain field, not a scheduling point.
    /// </summary>
    public bool has_itree;

    public readonly KernelLock @lock;

    /// <summary>Starts at 2; odd while an itree invalidation is "fully excluding" (the tree is frozen).</summary>
    public readonly Shared<ulong> invalidate_seq;

    /// <summary>Open start..end windows on this mm (itree side), under lock.</summary>
    public ulong active_invalidate_ranges;

    /// <summary>The interval tree, in interval_tree_iter order (by start), under lock.</summary>
    public readonly List<mmu_interval_notifier> itree = new();

    /// <summary>Waiters of mmu_interval_read_begin and mmu_interval_notifier_remove.</summary>
    public readonly wait_queue_head_t wq;

    /// <summary>Inserts and removals requested while the tree was frozen, applied by the last mn_itree_inv_end.</summary>
    public readonly List<mmu_interval_notifier> deferred_list = new();
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
        BUG_ON(mm.mm_users.Peek <= 0, "atomic_read(&mm->mm_users) <= 0");
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
        if (mm.notifier_subscriptions == null) subscriptions = new mmu_notifier_subscriptions(this);
        // 3. Exclude every rmap walker (and, with them, every other notifier method).
        var ret = await mm_take_all_locks(mm);
        if (ret != 0) return ret;   // out_clean: kfree(subscriptions)
        // 4. smp_store_release(&mm->notifier_subscriptions, subscriptions)
        if (subscriptions != null) mm.notifier_subscriptions = subscriptions;
        // 5.
        if (subscription != null)
        {
            await mmgrab(mm);   // pairs with the mmdrop in mmu_notifier_unregister / mmu_notifier_free_rcu
            mm.notifier_pins++;
            subscription.mm = mm;
            subscription.users = 1;
            await spin_lock(mm.notifier_subscriptions!.@lock);
            await mm.notifier_subscriptions.list.Update(l => l.Insert(0, subscription));   // hlist_add_head_rcu
            subscription.hlist_hashed = true;
            await spin_unlock(mm.notifier_subscriptions.@lock);
        }
        else mm.notifier_subscriptions!.has_itree = true;
        // 6.
        await mm_drop_all_locks(mm);
        BUG_ON(mm.mm_users.Peek <= 0, "atomic_read(&mm->mm_users) <= 0");
        return 0;
    }

    /// <summary>§1.5: release (if still hooked), unhook, synchronize_srcu, mmdrop.</summary>
    public virtual async SimTask mmu_notifier_unregister(mmu_notifier subscription, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        BUG_ON(mm.mm_count.Peek <= 0, "atomic_read(&mm->mm_count) <= 0");
        if (subscription.hlist_hashed)
        {
            // SRCU here forces the release to finish before the mm's pages are freed by a concurrent exit_mmap.
            var id = await srcu_read_lock(srcu);
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
            await srcu_read_unlock(srcu, id);
            await spin_lock(mm.notifier_subscriptions!.@lock);
            await mm.notifier_subscriptions.list.Update(l => l.Remove(subscription));   // hlist_del_init_rcu
            subscription.hlist_hashed = false;
            await spin_unlock(mm.notifier_subscriptions.@lock);
        }
        // Wait for every callback that may still be running, including a release run by exit_mmap.
        await synchronize_srcu(srcu);
        mmu_notifier_unregister_returns(subscription);
        BUG_ON(mm.mm_count.Peek <= 0, "atomic_read(&mm->mm_count) <= 0");
        mm.notifier_pins--;
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
        if (mm.notifier_subscriptions != null)
        {
            var found = await find_get_mmu_notifier(mm, ops);
            if (found != null) return found;
        }
        var subscription = await ops.alloc_notifier(mm);
        if (mmu_notifier.IS_ERR(subscription)) return subscription;
        subscription.ops = ops;
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
        var subscriptions = mm.notifier_subscriptions!;
        await spin_lock(subscriptions.@lock);
        foreach (var subscription in await subscriptions.list.Read())
        {
            if (!ReferenceEquals(subscription.ops, ops)) continue;
            var result = subscription;
            if (subscription.users != int.MaxValue) subscription.users++;   // likely(users != UINT_MAX)
            else result = mmu_notifier.ERR_PTR(-EOVERFLOW);
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
        var mm = subscription.mm!;
        await subscription.ops.free_notifier(subscription);
        subscription.freed = true;   // the struct mmu_notifier is embedded in what free_notifier freed
        mm.notifier_pins--;
        await mmdrop(mm);
    }

    /// <summary>
    /// mmu_notifier_put: drop a user; the last one unhooks the subscription and frees it with call_srcu after a grace
    /// period. release is not called (the user already tore its mappings down).
    /// </summary>
    public virtual async SimTask mmu_notifier_put(mmu_notifier subscription)
    {
        using var fn = KernelFunction.Enter();
        var mm = subscription.mm!;
        var subscriptions = mm.notifier_subscriptions!;
        await spin_lock(subscriptions.@lock);
        if (subscription.users == 0)
        {
            Sim.Report(KernelLog.Warning("put-without-users", "WARNING: mmu_notifier_put: WARN_ON(!subscription->users)", "put"));
            await spin_unlock(subscriptions.@lock);   // out_unlock
            return;
        }
        if (--subscription.users != 0)
        {
            await spin_unlock(subscriptions.@lock);   // out_unlock
            return;
        }
        await subscriptions.list.Update(l => l.Remove(subscription));   // hlist_del_init_rcu
        subscription.hlist_hashed = false;
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
        if (mm.mm_has_notifiers()) await __mmu_notifier_release(mm);
    }

    public virtual async SimTask __mmu_notifier_release(mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = mm.notifier_subscriptions!;
        if (subscriptions.has_itree) await mn_itree_release(subscriptions, mm);
        // Kernel: if (!hlist_empty(&subscriptions->list)). The model walks an empty list too (one more grace period,
        // nothing else), which keeps exit_mmap's scheduling points those of a KVM mm.
        await mn_hlist_release(subscriptions, mm);
    }

    protected virtual async SimTask mn_hlist_release(mmu_notifier_subscriptions subscriptions, mm_struct mm)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await subscriptions.list.Read())
            if (subscription.ops.Has(mmu_notifier_ops.Op.release))
                await Call(subscription, s => s.ops.release(s, mm));
        await spin_lock(subscriptions.@lock);
        var all = await subscriptions.list.Update(static _ => ImmutableList<mmu_notifier>.Empty);   // hlist_del_init_rcu each
        foreach (var subscription in all) subscription.hlist_hashed = false;
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
        for (; interval_sub != null; interval_sub = mn_itree_inv_next(subscriptions, interval_sub, range))
        {
            var ret = await CallInterval(interval_sub, s => s.ops.invalidate(s, range, cur_seq));
            if (!ret)
                Sim.Report(KernelLog.Warning("itree-invalidate-failed-blockable",
                    "WARNING: mn_itree_release: WARN_ON(!ret): an interval notifier failed a blockable invalidate", interval_sub.ops.GetType().Name));
        }
        await mn_itree_inv_end(subscriptions);
    }

    // ---- interval notifiers: the invalidation side (§1.7, §1.8) ----

    /// <summary>Under lock: one more active range; freeze the tree (seq odd) if any interval overlaps; returns the first one and the seq.</summary>
    protected virtual async SimTask<(mmu_interval_notifier? first, ulong seq)> mn_itree_inv_start_range(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(subscriptions.@lock);
        subscriptions.active_invalidate_ranges++;
        var node = interval_tree_iter_first(subscriptions.itree, range.start, range.end - 1);
        if (node != null) await subscriptions.invalidate_seq.Update(static s => s | 1);
        var seq = await subscriptions.invalidate_seq.Read();
        await spin_unlock(subscriptions.@lock);
        return (node, seq);
    }

    /// <summary>The next overlapping interval: the tree is frozen while an invalidation walks it, so no lock is needed.</summary>
    private static mmu_interval_notifier? mn_itree_inv_next(mmu_notifier_subscriptions subscriptions, mmu_interval_notifier interval_sub, mmu_notifier_range range)
    {
        var i = subscriptions.itree.IndexOf(interval_sub);
        for (var j = i + 1; j < subscriptions.itree.Count; j++)
            if (Overlaps(subscriptions.itree[j], range.start, range.end - 1)) return subscriptions.itree[j];
        return null;
    }

    /// <summary>Under lock: one range fewer; the last one of a frozen tree thaws it (seq even), applies the deferred list, wakes wq.</summary>
    protected virtual async SimTask mn_itree_inv_end(mmu_notifier_subscriptions subscriptions)
    {
        using var fn = KernelFunction.Enter();
        await spin_lock(subscriptions.@lock);
        if (subscriptions.active_invalidate_ranges == 0)
            Sim.Report(KernelLog.Warning("itree-ranges-underflow", "WARNING: mn_itree_inv_end with active_invalidate_ranges == 0", "active_invalidate_ranges"));
        if (--subscriptions.active_invalidate_ranges != 0 || !await mn_itree_is_invalidating(subscriptions))
        {
            await spin_unlock(subscriptions.@lock);
            return;
        }
        await subscriptions.invalidate_seq.Update(static s => s + 1);   // make invalidate_seq even
        // The deferred mechanism, like rtnl_unlock(): adds and removes queued while frozen are applied now.
        foreach (var interval_sub in subscriptions.deferred_list)
        {
            if (!interval_sub.rb_linked) interval_tree_insert(interval_sub, subscriptions.itree);
            else interval_tree_remove(interval_sub, subscriptions.itree);
        }
        subscriptions.deferred_list.Clear();
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
        for (; interval_sub != null; interval_sub = mn_itree_inv_next(subscriptions, interval_sub, range))
        {
            var ret = await CallInterval(interval_sub, s => s.ops.invalidate(s, range, cur_seq));
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

    private static bool Overlaps(mmu_interval_notifier n, ulong start, ulong last) => n.start <= last && start <= n.last;

    private static mmu_interval_notifier? interval_tree_iter_first(List<mmu_interval_notifier> itree, ulong start, ulong last)
        => itree.FirstOrDefault(n => Overlaps(n, start, last));

    private static void interval_tree_insert(mmu_interval_notifier interval_sub, List<mmu_interval_notifier> itree)
    {
        var i = itree.FindIndex(n => n.start > interval_sub.start);
        itree.Insert(i < 0 ? itree.Count : i, interval_sub);
        interval_sub.rb_linked = true;
    }

    private static void interval_tree_remove(mmu_interval_notifier interval_sub, List<mmu_interval_notifier> itree)
    {
        itree.Remove(interval_sub);
        interval_sub.rb_linked = false;   // RB_CLEAR_NODE
    }

    // ---- interval notifiers: the driver side (§1.9) ----

    /// <summary>
    /// mmu_interval_notifier_insert: registers itree mode on first use (mmu_notifier_register(NULL, mm)), then inserts.
    /// The caller holds an mm_users reference (mmget).
    /// </summary>
    public virtual async SimTask<int> mmu_interval_notifier_insert(mmu_interval_notifier interval_sub, mm_struct mm, ulong start, ulong length,
        mmu_interval_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = mm.notifier_subscriptions;   // smp_load_acquire
        if (subscriptions == null || !subscriptions.has_itree)
        {
            var ret = await mmu_notifier_register(null, mm);
            if (ret != 0) return ret;
            subscriptions = mm.notifier_subscriptions!;
        }
        return await __mmu_interval_notifier_insert(interval_sub, mm, subscriptions, start, length, ops);
    }

    /// <summary>mmu_interval_notifier_insert_locked: the same with mmap_lock already held for write.</summary>
    public virtual async SimTask<int> mmu_interval_notifier_insert_locked(mmu_interval_notifier interval_sub, mm_struct mm, ulong start, ulong length,
        mmu_interval_notifier_ops ops)
    {
        using var fn = KernelFunction.Enter();
        lockdep_assert_held(mm.mmap_lock);   // mmap_assert_write_locked(mm)
        var subscriptions = mm.notifier_subscriptions;
        if (subscriptions == null || !subscriptions.has_itree)
        {
            var ret = await __mmu_notifier_register(null, mm);
            if (ret != 0) return ret;
            subscriptions = mm.notifier_subscriptions!;
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
        interval_sub.mm = mm;
        interval_sub.ops = ops;
        interval_sub.rb_linked = false;   // RB_CLEAR_NODE
        interval_sub.start = start;
        if (length == 0 || start + (length - 1) < start) return -EOVERFLOW;   // check_add_overflow
        interval_sub.last = start + (length - 1);
        if (await mm.mm_users.Read() <= 0)
        {
            Sim.Report(KernelLog.Warning("insert-without-mmget", "WARNING: __mmu_interval_notifier_insert: WARN_ON(atomic_read(&mm->mm_users) <= 0)", "insert"));
            return -EINVAL;
        }
        await mmgrab(mm);   // pairs with the mmdrop in mmu_interval_notifier_remove
        mm.notifier_pins++;
        await spin_lock(subscriptions.@lock);
        if (subscriptions.active_invalidate_ranges != 0)
        {
            if (await mn_itree_is_invalidating(subscriptions))
                subscriptions.deferred_list.Insert(0, interval_sub);   // hlist_add_head(&deferred_item)
            else
            {
                await subscriptions.invalidate_seq.Update(static s => s | 1);
                interval_tree_insert(interval_sub, subscriptions.itree);
            }
            await interval_sub.invalidate_seq.Write(await subscriptions.invalidate_seq.Read());
        }
        else
        {
            if (await mn_itree_is_invalidating(subscriptions))
                Sim.Report(KernelLog.Warning("itree-frozen-while-idle", "WARNING: __mmu_interval_notifier_insert: WARN_ON(mn_itree_is_invalidating)", "insert"));
            // Odd, not equal to the current seq, and the seq will not wrap to it any time soon.
            await interval_sub.invalidate_seq.Write(await subscriptions.invalidate_seq.Read() - 1);
            interval_tree_insert(interval_sub, subscriptions.itree);
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
        var mm = interval_sub.mm;
        var subscriptions = mm.notifier_subscriptions!;
        ulong seq = 0;
        might_sleep();
        await spin_lock(subscriptions.@lock);
        if (await mn_itree_is_invalidating(subscriptions))
        {
            // remove after an insert that was deferred and not yet processed: cancel the insert
            if (!interval_sub.rb_linked) subscriptions.deferred_list.Remove(interval_sub);   // hlist_del
            else
            {
                subscriptions.deferred_list.Insert(0, interval_sub);
                seq = await subscriptions.invalidate_seq.Read();
            }
        }
        else
        {
            if (!interval_sub.rb_linked)
                Sim.Report(KernelLog.Warning("remove-not-inserted", "WARNING: mmu_interval_notifier_remove: WARN_ON(RB_EMPTY_NODE(&interval_sub->interval_tree.rb))", "remove"));
            interval_tree_remove(interval_sub, subscriptions.itree);
        }
        await spin_unlock(subscriptions.@lock);
        // The possible sleep requires the caller not to hold any lock an invalidation callback takes.
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
        if (seq != 0)
            await wait_event(subscriptions.wq, async () => await subscriptions.invalidate_seq.Read() != seq);
        interval_sub.removed = true;
        if (interval_sub.callbacks_running != 0)
            Sim.Report(KernelLog.Warning("remove-while-invalidate-runs",
                "BUG: mmu_interval_notifier_remove returned while the notifier's invalidate callback still runs", "remove"));
        mm.notifier_pins--;
        await mmdrop(mm);   // pairs with the mmgrab in mmu_interval_notifier_insert
    }

    /// <summary>
    /// mmu_interval_read_begin: the sub's seq under lock, equal to the global one means an invalidation covering it is
    /// running; a momentary acquire of the pseudo-lock; if colliding, wait until the global seq moves. Can sleep.
    /// </summary>
    public virtual async SimTask<ulong> mmu_interval_read_begin(mmu_interval_notifier interval_sub)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = interval_sub.mm.notifier_subscriptions!;
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
        if (range.mm.mm_has_notifiers())
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
        if (range.mm.mm_has_notifiers())
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
        var subscriptions = range.mm.notifier_subscriptions!;
        if (subscriptions.has_itree)
        {
            var ret = await mn_itree_invalidate(subscriptions, range);
            if (ret != 0) return ret;
        }
        if (!(await subscriptions.list.Read()).IsEmpty)
            return await mn_hlist_invalidate_range_start(subscriptions, range);
        return 0;
    }

    protected virtual async SimTask<int> mn_hlist_invalidate_range_start(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
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
                    Sim.Report(KernelLog.Warning("start-failed-blockable", $"WARNING: invalidate_range_start failed with {_ret} in a blockable range", "blockable"));
                if (subscription.ops.Has(mmu_notifier_ops.Op.invalidate_range_end))
                    Sim.Report(KernelLog.Warning("failing-start-has-end",
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

    public virtual async SimTask mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        if (range.mmu_notifier_range_blockable()) might_sleep();
        if (range.mm.mm_has_notifiers()) await __mmu_notifier_invalidate_range_end(range);
    }

    public virtual async SimTask __mmu_notifier_invalidate_range_end(mmu_notifier_range range)
    {
        using var fn = KernelFunction.Enter();
        var subscriptions = range.mm.notifier_subscriptions!;
        lock_map_acquire(__mmu_notifier_invalidate_range_start_map);
        if (subscriptions.has_itree) await mn_itree_inv_end(subscriptions);
        // Kernel: if (!hlist_empty(&subscriptions->list)); walking an empty list calls nobody.
        await mn_hlist_invalidate_end(subscriptions, range);
        lock_map_release(__mmu_notifier_invalidate_range_start_map);
    }

    protected virtual async SimTask mn_hlist_invalidate_end(mmu_notifier_subscriptions subscriptions, mmu_notifier_range range)
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

    // ---- aging (§1.2): called by rmap walkers under the primary PTL ----

    public virtual async SimTask<int> mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
    {
        if (!mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_clear_flush_young(mm, start, end);
    }

    /// <summary>Every subscriber's clear_flush_young, results ORed.</summary>
    public virtual async SimTask<int> __mmu_notifier_clear_flush_young(mm_struct mm, ulong start, ulong end)
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

    public virtual async SimTask<int> mmu_notifier_clear_young(mm_struct mm, ulong start, ulong end)
    {
        if (!mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_clear_young(mm, start, end);
    }

    /// <summary>Like clear_flush_young, the secondary flush may be skipped; results ORed.</summary>
    public virtual async SimTask<int> __mmu_notifier_clear_young(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await mm.notifier_subscriptions!.list.Read())
            if (subscription.ops.Has(mmu_notifier_ops.Op.clear_young))
                young |= await Call(subscription, s => s.ops.clear_young(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
        return young;
    }

    public virtual async SimTask<int> mmu_notifier_test_young(mm_struct mm, ulong address)
    {
        if (!mm.mm_has_notifiers()) return 0;
        return await __mmu_notifier_test_young(mm, address);
    }

    /// <summary>A query: stops at the first subscriber that reports young.</summary>
    public virtual async SimTask<int> __mmu_notifier_test_young(mm_struct mm, ulong address)
    {
        using var fn = KernelFunction.Enter();
        var young = 0;
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await mm.notifier_subscriptions!.list.Read())
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
        if (mm.mm_has_notifiers()) await __mmu_notifier_arch_invalidate_secondary_tlbs(mm, start, end);
    }

    public virtual async SimTask __mmu_notifier_arch_invalidate_secondary_tlbs(mm_struct mm, ulong start, ulong end)
    {
        using var fn = KernelFunction.Enter();
        var id = await srcu_read_lock(srcu);
        foreach (var subscription in await mm.notifier_subscriptions!.list.Read())
            if (subscription.ops.Has(mmu_notifier_ops.Op.arch_invalidate_secondary_tlbs))
                await Call(subscription, s => s.ops.arch_invalidate_secondary_tlbs(s, mm, start, end));
        await srcu_read_unlock(srcu, id);
    }
}
